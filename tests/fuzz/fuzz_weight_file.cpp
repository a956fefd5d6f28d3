// libFuzzer entry point for the model-file readers. WeightFile::open takes a path, so each input
// is placed in an anonymous memory file and opened through /proc/self/fd. Whatever loads must
// also read back: every tensor's bytes and its f32 conversion stay inside the mapping.
//
// Build (clang): configure with -DRAVEL_BUILD_FUZZERS=ON and
//   -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined, then run e.g.
//   build/.../fuzz_weight_file -max_len=65536 corpus/
// Seed the corpus with small .pth/.safetensors files (the test suite's hand-made ones).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "ravel/weight_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const int fd = memfd_create("fuzz-weights", MFD_CLOEXEC);
    if (fd < 0) return 0;
    std::size_t written = 0;
    while (written < size) {
        const ssize_t n = write(fd, data + written, size - written);
        if (n <= 0) break;
        written += static_cast<std::size_t>(n);
    }
    if (written == size) {
        auto file = ravel::WeightFile::open("/proc/self/fd/" + std::to_string(fd));
        if (file.ok()) {
            for (const auto& t : file->tensors()) {
                if (file->bytes(t).size() != t.nbytes) __builtin_trap();
                auto values = file->read_f32(t);
                if (!values.ok()) __builtin_trap();
            }
        }
    }
    close(fd);
    return 0;
}
