// A conversation driven through the engine, with the store as its memory.
//
// The transcript is the truth; snapshots are a cache (DESIGN.md section 5). To reach a message
// the runner loads the nearest usable snapshot on the path from the root to it. A snapshot that
// is missing, damaged, made by another model or tokenizer, or does not match the transcript's
// token count is skipped (the reason is recorded in ResumeInfo::skipped, never raised as an
// error) and the state is rebuilt by replaying the stored token ids from the nearest usable
// ancestor; the rebuilt snapshots are written back.
//
// Snapshots are written after the system prompt and after every completed reply. Branches:
// regenerating a reply adds a sibling reply under the same user message; editing a user message
// adds a sibling user message under the same parent; each continues from its parent's state.
//
// One runner owns one Session and Sampler (the "live" position) and is used on one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conversation/model_context.hpp"
#include "conversation/reply.hpp"
#include "ravel/sampler.hpp"
#include "ravel/session.hpp"
#include "storage/store.hpp"

namespace ravel::conversation {

struct ResumeInfo {
    bool from_snapshot = false;  // a snapshot was loaded (vs. starting from the beginning)
    std::optional<std::int64_t> snapshot_message;  // whose snapshot
    bool was_live = false;                         // already there in this process
    std::int64_t replayed_tokens = 0;
    double resume_ms = 0.0;
    std::vector<std::string> skipped;  // snapshots ignored, and why
};

struct TurnResult {
    storage::Message user;
    storage::Message reply;
    Reply generation;
    std::int64_t prompt_tokens = 0;
    ResumeInfo resume;
};

class ConversationRunner {
  public:
    // `session` sets the threads (0: one per physical core, see ravel/machine.hpp).
    ConversationRunner(storage::Store& store, ModelContext context, SessionOptions session = {});

    const ModelContext& context() const { return ctx_; }
    Session& session() { return session_; }
    const Sampler& sampler() const { return sampler_; }

    // A new conversation; with a system prompt, its message is fed and snapshotted at once.
    Result<storage::Conversation> create(const std::string& title, const SamplerSettings& defaults,
                                         const std::string& system_prompt = {});
    Result<SamplerSettings> default_settings(std::int64_t conversation_id);

    // Brings the session and sampler to the state after `message_id` (the conversation's
    // beginning when none).
    Result<ResumeInfo> resume_to(std::int64_t conversation_id,
                                 std::optional<std::int64_t> message_id);

    // Adds a user message under `parent` and generates the reply to it.
    Result<TurnResult> send(std::int64_t conversation_id, std::optional<std::int64_t> parent,
                            const std::string& user_text, const SamplerSettings& settings,
                            const ReplyOptions& options = {}, const PieceCallback& on_piece = {});
    // Another reply to the same user message (a sibling of `assistant_message`).
    Result<TurnResult> regenerate(std::int64_t assistant_message, const SamplerSettings& settings,
                                  const ReplyOptions& options = {},
                                  const PieceCallback& on_piece = {});
    // A sibling of `user_message` with new text, and the reply to it.
    Result<TurnResult> edit(std::int64_t user_message, const std::string& new_text,
                            const SamplerSettings& settings, const ReplyOptions& options = {},
                            const PieceCallback& on_piece = {});

    // Stores the current live state as the snapshot of `message_id`.
    Result<void> snapshot_live(std::int64_t message_id);
    void forget_live() { live_ = false; }

  private:
    Result<void> start_fresh(const storage::Conversation& conversation);
    Result<std::vector<std::int32_t>> feed_tokens(const storage::Message& m, bool after_separator);
    Result<void> replay(const storage::Message& m, const std::vector<std::int32_t>& tokens);
    Result<TurnResult> reply_under(std::int64_t conversation_id, std::optional<std::int64_t> parent,
                                   const std::string& user_text, const SamplerSettings& settings,
                                   const ReplyOptions& options, const PieceCallback& on_piece,
                                   ResumeInfo resume);
    bool ends_turn(const storage::Message& m) const;
    // Whether the row's stored ids are fed: a reply's are not when they belong to another
    // tokenizer (it is then tokenized again from its text, like an import).
    bool ids_usable(const storage::Message& m) const;

    storage::Store& store_;
    ModelContext ctx_;
    Session session_;
    Sampler sampler_;
    bool live_ = false;
    std::int64_t live_conversation_ = 0;
    std::optional<std::int64_t> live_message_;
};

}  // namespace ravel::conversation
