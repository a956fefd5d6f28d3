#include "chat_options.hpp"

#include <iostream>
#include <limits>

#include "model_options.hpp"

namespace ravel::cli {

Result<SamplerSettings> apply_sampler_options(const Args& args, SamplerSettings s) {
    auto real = [&](const char* name, float& field, double lo, double hi) -> Result<void> {
        auto v = args.get_double(name, field, lo, hi);
        if (!v) return v.error();
        field = static_cast<float>(*v);
        return {};
    };
    for (auto r : {real("temperature", s.temperature, 0.0, 5.0), real("top-p", s.top_p, 0.0, 1.0),
                   real("min-p", s.min_p, 0.0, 1.0), real("presence", s.presence_penalty, -5, 5),
                   real("frequency", s.frequency_penalty, -5, 5),
                   real("decay", s.penalty_decay, 0.0, 1.0)}) {
        if (!r) return r.error();
    }
    auto top_k = args.get_int("top-k", s.top_k, 0, 1'000'000);
    if (!top_k) return top_k.error();
    s.top_k = static_cast<int>(*top_k);
    auto max_tokens = args.get_int("max-tokens", s.max_tokens, 1, 1'000'000);
    if (!max_tokens) return max_tokens.error();
    s.max_tokens = static_cast<int>(*max_tokens);
    auto seed = args.get_int("seed", static_cast<long long>(s.seed), 0,
                             std::numeric_limits<long long>::max());
    if (!seed) return seed.error();
    s.seed = static_cast<std::uint64_t>(*seed);
    if (auto ok = s.validate(); !ok) return ok.error();
    return s;
}

Result<ChatTemplate> chat_template_from_args(const Args& args) {
    auto tmpl = ChatTemplate::from_name(args.get_or("template", "world"));
    if (!tmpl) return make_error("unknown --template (world, g1, g1-think, raven)");
    return *tmpl;
}

Result<std::optional<TokenizerKind>> tokenizer_kind_from_args(const Args& args) {
    auto name = args.get("tokenizer");
    if (!name) return std::optional<TokenizerKind>{};
    auto kind = parse_tokenizer_kind(*name);
    if (!kind) return make_error("unknown --tokenizer '" + *name + "' (world, neox, byte)");
    return kind;
}

TokenizerSearch tokenizer_search_from_args(const Args& args) {
    TokenizerSearch search;
    if (auto vocab = args.get("vocab")) search.explicit_path = *vocab;
    if (auto model = args.get("model")) search.model_file = *model;
    search.dirs = default_tokenizer_dirs({});
    return search;
}

Result<std::unique_ptr<Tokenizer>> tokenizer_from_args(const Args& args, const WeightFile& file,
                                                       const ModelConfig& config) {
    auto kind = tokenizer_kind_from_args(args);
    if (!kind) return kind.error();
    return tokenizer_for_model(file, config, tokenizer_search_from_args(args), *kind);
}

Result<ChatModel> load_chat_model(const Args& args) {
    auto path = args.get("model");
    if (!path) return make_error("--model FILE is required");
    auto options = load_options_from_args(args);
    if (!options) return options.error();
    auto file = WeightFile::open(*path);
    if (!file) return file.error();
    auto config = detect_config(*file);
    if (!config) return config.error();
    // The tokenizer first: a missing vocabulary is reported before a long load.
    auto tokenizer = tokenizer_from_args(args, *file, *config);
    if (!tokenizer) return tokenizer.error();
    auto model = Model::from_file(*file, *options);
    if (!model) return model.error();
    if (!(*model)->device_note().empty()) {
        std::cerr << "ravel-cli: " << (*model)->device_note() << "\n";
    }
    return ChatModel{std::move(*model), std::move(*tokenizer)};
}

}  // namespace ravel::cli
