// libFuzzer entry point for typed text: every input goes through the World tokenizer (when the
// reference vocabulary is found), the NeoX one (likewise) and the byte tokenizer. Ids must be
// in the vocabulary, decoding must succeed, World and bytes must give the input back exactly,
// and the streaming decoder must only ever emit valid UTF-8, the input itself when it is valid.
// The vocabularies come from $RAVEL_SHARED_DATA/tokenizers (default ../shared/data).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ravel/tokenizer.hpp"
#include "utf8.hpp"

namespace {

struct Tokenizers {
    std::unique_ptr<ravel::Tokenizer> world;
    std::unique_ptr<ravel::Tokenizer> neox;
    std::unique_ptr<ravel::Tokenizer> bytes = ravel::make_byte_tokenizer();
};

Tokenizers& tokenizers() {
    static Tokenizers t = [] {
        Tokenizers out;
        const char* env = std::getenv("RAVEL_SHARED_DATA");
        const std::filesystem::path dir =
            std::filesystem::path(env != nullptr && *env != '\0' ? env : "../shared/data") /
            "tokenizers";
        if (auto w = ravel::load_world_tokenizer(dir / "rwkv_vocab_v20230424.txt"); w.ok()) {
            out.world = std::move(*w);
        }
        if (auto n = ravel::load_neox_tokenizer(dir / "20B_tokenizer.json"); n.ok()) {
            out.neox = std::move(*n);
        }
        return out;
    }();
    return t;
}

void check(const ravel::Tokenizer& t, const std::string& text, bool exact) {
    const std::vector<std::int32_t> ids = t.encode(text);
    for (const std::int32_t id : ids) {
        if (!t.contains(id)) __builtin_trap();
    }
    auto back = t.decode(ids);
    if (!back.ok()) __builtin_trap();
    if (exact && *back != text) __builtin_trap();

    ravel::StreamDecoder stream(t);
    std::string streamed;
    for (const std::int32_t id : ids) {
        const std::string piece = stream.push(id);
        if (!ravel::fuzz::valid_utf8(piece)) __builtin_trap();
        streamed += piece;
    }
    streamed += stream.flush();
    if (!ravel::fuzz::valid_utf8(streamed)) __builtin_trap();
    if (ravel::fuzz::valid_utf8(*back) && streamed != *back) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    Tokenizers& t = tokenizers();
    if (t.world) check(*t.world, text, true);
    if (t.neox) check(*t.neox, text, false);
    check(*t.bytes, text, true);
    return 0;
}
