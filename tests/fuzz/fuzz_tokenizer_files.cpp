// libFuzzer entry point for tokenizer files a user may point Ravel at: the first byte picks the
// reader (even: a World vocabulary text, odd: a Hugging Face tokenizer.json), the rest is the
// file. Whatever loads must encode text into ids inside its vocabulary and decode them again.
// Seeds: tests/fuzz/seeds/tokenizer_files (tools/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ravel/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view file(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto tokenizer = data[0] % 2 == 0 ? ravel::world_tokenizer_from_vocab_text(file, "fuzz")
                                      : ravel::neox_tokenizer_from_json(file, "fuzz");
    if (!tokenizer.ok()) return 0;
    const ravel::Tokenizer& t = **tokenizer;
    // The file's own bytes as text reach whatever merges and specials it declares.
    for (const std::string_view text :
         {std::string_view("Hello, world! \xe4\xbd\xa0\xe5\xa5\xbd\n\n  x"), file.substr(0, 256)}) {
        const std::vector<std::int32_t> ids = t.encode(text);
        for (const std::int32_t id : ids) {
            if (!t.contains(id)) __builtin_trap();
        }
        if (!t.decode(ids).ok()) __builtin_trap();
    }
    return 0;
}
