// RWKV World: greedy longest match over bytes (ChatRWKV's TRIE_TOKENIZER.encodeBytes). No
// normalisation, no pre-splitting; "<|endoftext|>" in the input is plain text.
#include <algorithm>
#include <utility>

#include "ravel/tokenizer.hpp"
#include "tokenizer/byte_trie.hpp"
#include "tokenizer/file_io.hpp"
#include "tokenizer/world_vocab.hpp"

namespace ravel {

namespace {

constexpr std::size_t kMaxVocabFileBytes = 64u << 20;
constexpr std::int32_t kWorldModelVocab = 65536;
constexpr std::size_t kMaxWorldTokens = 1u << 20;

class WorldTokenizer final : public Tokenizer {
  public:
    WorldTokenizer(std::vector<std::string> tokens, std::int32_t vocab_size)
        : tokens_(std::move(tokens)), trie_(tokens_), vocab_size_(vocab_size) {
        tok::Fnv64 h;
        for (const auto& t : tokens_) {
            h.add_u64(t.size());
            h.add(t);
        }
        id_ = "world-" + std::to_string(vocab_size_) + "-" + h.hex();
    }

    TokenizerKind kind() const override { return TokenizerKind::World; }
    const std::string& id() const override { return id_; }
    std::int32_t vocab_size() const override { return vocab_size_; }
    std::optional<std::int32_t> end_of_text() const override { return 0; }

    std::vector<std::int32_t> encode(std::string_view text) const override {
        std::vector<std::int32_t> out;
        out.reserve(text.size() / 3 + 1);
        const auto* p = reinterpret_cast<const unsigned char*>(text.data());
        const auto* end = p + text.size();
        while (p < end) {
            // Never empty: construction checked that every single byte is a token.
            const tok::ByteTrie::Match m = trie_.longest_match(p, end);
            out.push_back(m.id);
            p += m.length;
        }
        return out;
    }

    std::string_view token_bytes(std::int32_t id) const override {
        if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return {};
        return tokens_[static_cast<std::size_t>(id)];
    }

  private:
    std::vector<std::string> tokens_;
    tok::ByteTrie trie_;
    std::int32_t vocab_size_;
    std::string id_;
};

Result<std::unique_ptr<Tokenizer>> make_world(std::vector<std::string> tokens,
                                              std::int32_t vocab_size, std::string_view source) {
    if (tokens.size() > kMaxWorldTokens) {
        return make_error(std::string(source) + ": " + std::to_string(tokens.size()) +
                          " tokens is more than a World vocabulary can have");
    }
    // Id 0 is <|endoftext|>: ChatRWKV never produces it from text and decodes it to nothing.
    if (!tokens.empty()) tokens[0].clear();
    bool has_byte[256] = {};
    for (const auto& t : tokens) {
        if (t.size() == 1) has_byte[static_cast<unsigned char>(t[0])] = true;
    }
    for (int b = 0; b < 256; ++b) {
        if (!has_byte[b]) {
            return make_error(std::string(source) + ": the vocabulary has no token for byte " +
                              std::to_string(b) + ", so some inputs could not be encoded");
        }
    }
    return std::unique_ptr<Tokenizer>(
        std::make_unique<WorldTokenizer>(std::move(tokens), vocab_size));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> world_tokenizer_from_vocab_text(std::string_view text,
                                                                   std::string_view source_name) {
    auto tokens = tok::parse_world_vocab(text, source_name);
    if (!tokens) return tokens.error();
    const auto n = static_cast<std::int32_t>(tokens->size());
    return make_world(std::move(*tokens), std::max(n, kWorldModelVocab), source_name);
}

Result<std::unique_ptr<Tokenizer>> world_tokenizer_from_tokens(std::vector<std::string> tokens) {
    if (tokens.size() > kMaxWorldTokens) {
        return make_error("World token table: " + std::to_string(tokens.size()) +
                          " tokens is too many");
    }
    const auto n = static_cast<std::int32_t>(tokens.size());
    return make_world(std::move(tokens), n, "World token table");
}

Result<std::unique_ptr<Tokenizer>> load_world_tokenizer(const std::filesystem::path& vocab_file) {
    auto text = tok::read_small_file(vocab_file, kMaxVocabFileBytes);
    if (!text) return make_error("World vocabulary: " + text.message());
    return world_tokenizer_from_vocab_text(*text, vocab_file.string());
}

}  // namespace ravel
