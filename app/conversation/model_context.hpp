// Everything a conversation needs from the engine: the model, its tokenizer, the fingerprint its
// snapshots carry, the chat template and the penalty exemption mask.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "ravel/chat_template.hpp"
#include "ravel/model.hpp"
#include "ravel/model_fingerprint.hpp"
#include "ravel/tokenizer.hpp"

namespace ravel::conversation {

struct ModelContext {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const Tokenizer> tokenizer;
    // Of the weights as run (file hash + weight type): see fingerprint_for_runtime().
    ModelFingerprint fingerprint;
    ChatTemplate chat_template;
    std::shared_ptr<const std::vector<bool>> penalty_exempt;
};

struct ModelContextOptions {
    LoadOptions load;
    // When absent, the model file says (its embedded tokenizer, or its vocabulary size).
    std::optional<TokenizerKind> tokenizer;
    TokenizerSearch tokenizer_search;  // model_file is filled in
    ChatTemplate chat_template = ChatTemplate(ChatTemplateKind::World);
    std::filesystem::path fingerprint_cache = FingerprintCache::default_path();
};

Result<ModelContext> load_model_context(const std::filesystem::path& model_file,
                                        const ModelContextOptions& options = {});

}  // namespace ravel::conversation
