// Choosing and loading the tokenizer for a model file: the vocabulary the file carries first,
// then the files found by a TokenizerSearch.
//
// Only inline members of WeightFile and plain ModelConfig fields are used, so ravel_tokenizer
// needs no link to the format or model libraries (a caller holding a WeightFile has them).
#include <string>

#include "ravel/gguf.hpp"
#include "ravel/model.hpp"
#include "ravel/tokenizer.hpp"
#include "ravel/weight_file.hpp"

namespace ravel {

namespace {

const std::string* find_meta(const WeightFile& file, std::string_view key) {
    const auto& meta = file.metadata();
    const auto it = meta.find(std::string(key));
    return it == meta.end() ? nullptr : &it->second;
}

Result<TokenizerKind> choose_kind(const WeightFile& file, const ModelConfig& config,
                                  std::optional<TokenizerKind> kind) {
    if (kind) return *kind;
    if (const std::string* named = find_meta(file, kGgufTokenizerKind)) {
        if (auto k = parse_tokenizer_kind(*named)) return *k;
        return make_error(file.path().string() + " names an unknown tokenizer '" + *named + "' (" +
                          std::string(kGgufTokenizerKind) + "); name one");
    }
    std::optional<std::string_view> ggml_model;
    if (const std::string* g = find_meta(file, "tokenizer.ggml.model")) ggml_model = *g;
    if (auto k = tokenizer_kind_for_vocab(ggml_model, config.n_vocab)) return *k;
    return make_error("cannot tell which tokenizer " + file.path().string() + " uses (vocabulary " +
                      std::to_string(config.n_vocab) + "); name one");
}

// The vocabulary embedded in the file when it is of `kind`; nullptr result when there is none.
Result<std::unique_ptr<Tokenizer>> embedded(const WeightFile& file, TokenizerKind kind) {
    const std::string* named = find_meta(file, kGgufTokenizerKind);
    const std::string* text = find_meta(file, kGgufTokenizerFile);
    if (named == nullptr || text == nullptr || text->empty()) return std::unique_ptr<Tokenizer>{};
    if (parse_tokenizer_kind(*named) != kind) return std::unique_ptr<Tokenizer>{};
    const std::string* name = find_meta(file, kGgufTokenizerFileName);
    const std::string source = file.path().string() + " (embedded " +
                               (name != nullptr ? *name : std::string("vocabulary")) + ")";
    switch (kind) {
        case TokenizerKind::World:
            return world_tokenizer_from_vocab_text(*text, source);
        case TokenizerKind::NeoX:
            return neox_tokenizer_from_json(*text, source);
        case TokenizerKind::Byte:
            break;
    }
    return std::unique_ptr<Tokenizer>{};
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> tokenizer_for_model(const WeightFile& file,
                                                       const ModelConfig& config,
                                                       const TokenizerSearch& search,
                                                       std::optional<TokenizerKind> kind) {
    auto chosen = choose_kind(file, config, kind);
    if (!chosen) return chosen.error();
    std::unique_ptr<Tokenizer> tokenizer;
    if (*chosen == TokenizerKind::Byte) {
        tokenizer = make_byte_tokenizer();
    } else if (search.explicit_path.empty()) {
        auto inside = embedded(file, *chosen);
        if (!inside) return inside.error();
        tokenizer = std::move(*inside);
    }
    if (!tokenizer) {
        TokenizerSearch where = search;
        if (where.model_file.empty()) where.model_file = file.path();
        auto loaded = load_tokenizer(*chosen, where);
        if (!loaded) return loaded.error();
        tokenizer = std::move(*loaded);
    }
    if (tokenizer->vocab_size() > config.n_vocab) {
        return make_error("the " + std::string(tokenizer->kind_name()) + " tokenizer has " +
                          std::to_string(tokenizer->vocab_size()) + " ids but the model only " +
                          std::to_string(config.n_vocab));
    }
    return tokenizer;
}

}  // namespace ravel
