#include "conversation/model_context.hpp"

#include "ravel/generator.hpp"

namespace ravel::conversation {

Result<ModelContext> load_model_context(const std::filesystem::path& model_file,
                                        const ModelContextOptions& options) {
    auto file = WeightFile::open(model_file);
    if (!file) return file.error();
    auto config = detect_config(*file);
    if (!config) return config.error();
    FingerprintCache cache(options.fingerprint_cache);
    auto file_fp = cache.get_or_compute(*file, *config);
    if (!file_fp) return file_fp.error();
    auto model = Model::from_file(*file, options.load);
    if (!model) return model.error();

    auto kind = options.tokenizer;
    if (!kind) kind = tokenizer_kind_for_vocab(std::nullopt, (*model)->config().n_vocab);
    if (!kind) {
        return make_error("cannot tell which tokenizer " + model_file.string() +
                          " uses (vocabulary " + std::to_string((*model)->config().n_vocab) +
                          "); name one");
    }
    TokenizerSearch search = options.tokenizer_search;
    search.model_file = model_file;
    auto tokenizer = load_tokenizer(*kind, search);
    if (!tokenizer) return tokenizer.error();
    if ((*tokenizer)->vocab_size() > (*model)->config().n_vocab) {
        return make_error("the " + std::string((*tokenizer)->kind_name()) + " tokenizer has " +
                          std::to_string((*tokenizer)->vocab_size()) +
                          " tokens but the model only " +
                          std::to_string((*model)->config().n_vocab));
    }
    ModelContext ctx;
    ctx.model = std::move(*model);
    ctx.tokenizer = std::shared_ptr<const Tokenizer>(std::move(*tokenizer));
    ctx.fingerprint = fingerprint_for_runtime(*file_fp, ctx.model->weight_type());
    ctx.chat_template = options.chat_template;
    ctx.penalty_exempt = penalty_exempt_mask(*ctx.tokenizer);
    return ctx;
}

}  // namespace ravel::conversation
