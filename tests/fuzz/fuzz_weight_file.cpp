// libFuzzer entry point for the model-file readers (.pth, .safetensors, GGUF). Whatever opens
// must also read back: every tensor's bytes and its f32 conversion stay inside the mapping.
// Build and run: tools/fuzz.sh (seeds: the reference models and their GGUF conversions).
#include <cstddef>
#include <cstdint>

#include "memory_file.hpp"
#include "ravel/weight_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const ravel::fuzz::MemoryFile input(data, size);
    if (!input.ok()) return 0;
    auto file = ravel::WeightFile::open(input.path());
    if (!file.ok()) return 0;
    for (const auto& t : file->tensors()) {
        if (file->bytes(t).size() != t.nbytes) __builtin_trap();
        auto values = file->read_f32(t);
        if (!values.ok()) __builtin_trap();
    }
    return 0;
}
