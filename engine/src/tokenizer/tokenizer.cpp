// Tokenizer kinds, choosing a tokenizer for a model, and decoding.
#include <algorithm>
#include <cctype>

#include "ravel/tokenizer.hpp"

namespace ravel {

std::string_view tokenizer_kind_name(TokenizerKind kind) {
    switch (kind) {
        case TokenizerKind::World:
            return "world";
        case TokenizerKind::NeoX:
            return "neox";
        case TokenizerKind::Byte:
            return "byte";
    }
    return "unknown";
}

std::optional<TokenizerKind> parse_tokenizer_kind(std::string_view name) {
    std::string n(name);
    std::transform(n.begin(), n.end(), n.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (n == "world" || n == "rwkv" || n == "rwkv_world" || n == "rwkv-world") {
        return TokenizerKind::World;
    }
    if (n == "neox" || n == "gpt-neox" || n == "gpt_neox" || n == "20b" || n == "pile") {
        return TokenizerKind::NeoX;
    }
    if (n == "byte" || n == "bytes") return TokenizerKind::Byte;
    return std::nullopt;
}

std::optional<TokenizerKind> tokenizer_kind_for_vocab(std::optional<std::string_view> metadata_name,
                                                      std::int64_t vocab_size) {
    if (metadata_name) {
        if (auto k = parse_tokenizer_kind(*metadata_name)) return k;
    }
    switch (vocab_size) {
        case 65536:
            return TokenizerKind::World;
        case 50277:
            return TokenizerKind::NeoX;
        case 256:
            return TokenizerKind::Byte;
        default:
            return std::nullopt;
    }
}

Result<std::string> Tokenizer::decode(std::span<const std::int32_t> ids) const {
    std::string out;
    for (const std::int32_t id : ids) {
        if (!contains(id)) {
            return make_error("token id " + std::to_string(id) + " is outside the " +
                              std::string(kind_name()) + " vocabulary (0.." +
                              std::to_string(vocab_size() - 1) + ")");
        }
        out.append(token_bytes(id));
    }
    return out;
}

}  // namespace ravel
