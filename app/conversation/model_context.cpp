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
    // The vocabulary the file carries wins over the search (see tokenizer_for_model). Chosen
    // before the weights load, so a missing vocabulary is reported at once.
    TokenizerSearch search = options.tokenizer_search;
    search.model_file = model_file;
    auto tokenizer = tokenizer_for_model(*file, *config, search, options.tokenizer);
    if (!tokenizer) return tokenizer.error();
    auto model = Model::from_file(*file, options.load);
    if (!model) return model.error();
    ModelContext ctx;
    ctx.model = std::move(*model);
    ctx.tokenizer = std::shared_ptr<const Tokenizer>(std::move(*tokenizer));
    ctx.fingerprint = fingerprint_for_runtime(*file_fp, ctx.model->weight_type());
    ctx.chat_template = options.chat_template;
    ctx.penalty_exempt = penalty_exempt_mask(*ctx.tokenizer);
    return ctx;
}

}  // namespace ravel::conversation
