// Options `ravel-cli chat` reads the same way in both its forms: the live terminal chat
// (cmd_chat.cpp, ChatLoop) and conversations kept in a database (chat_db.cpp).
#pragma once

#include <memory>
#include <optional>

#include "args.hpp"
#include "ravel/chat_template.hpp"
#include "ravel/model.hpp"
#include "ravel/sampler.hpp"
#include "ravel/tokenizer.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::cli {

// --temperature, --top-p, --top-k, --min-p, --presence, --frequency, --decay, --max-tokens and
// --seed replace the fields of `base`; the rest keep its values (a new chat starts from
// SamplerSettings::chat_defaults(), a resumed one from its stored settings).
Result<SamplerSettings> apply_sampler_options(const Args& args, SamplerSettings base);

// --template (world when absent).
Result<ChatTemplate> chat_template_from_args(const Args& args);

// --tokenizer; nullopt when absent (the model file decides).
Result<std::optional<TokenizerKind>> tokenizer_kind_from_args(const Args& args);

// --vocab as the explicit path, next to --model, then the default directories.
TokenizerSearch tokenizer_search_from_args(const Args& args);

// The tokenizer for an opened model file (ravel::tokenizer_for_model with the options above).
Result<std::unique_ptr<Tokenizer>> tokenizer_from_args(const Args& args, const WeightFile& file,
                                                       const ModelConfig& config);

// A model and its tokenizer from --model, --dtype, --device, --tokenizer and --vocab; the file
// is opened once for both.
struct ChatModel {
    std::shared_ptr<const Model> model;
    std::unique_ptr<Tokenizer> tokenizer;
};
Result<ChatModel> load_chat_model(const Args& args);

}  // namespace ravel::cli
