// One assistant reply, generated or replayed, through ravel::generate() and
// ravel::replay_generation(). The ids fed to the state are stored with the message, so a replay
// after a lost snapshot reproduces the state, the penalty table and the random generator
// exactly (re-tokenizing the text would not: tokenization is not unique).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ravel/generator.hpp"
#include "ravel/sampler.hpp"
#include "ravel/session.hpp"
#include "ravel/tokenizer.hpp"

namespace ravel::conversation {

struct ReplyOptions {
    const std::atomic<bool>* cancel = nullptr;
    int max_tokens = 0;  // overrides the sampler's when > 0
    bool ban_end_of_text_first = true;
};

struct Reply {
    std::string text;
    std::vector<std::int32_t> tokens;  // fed to the state (end-of-text excluded)
    // EndOfText whenever an end-of-text draw ended the reply (replay repeats that draw).
    StopReason stop_reason = StopReason::MaxTokens;
    double generation_ms = 0.0;
    bool ended_at_blank_line = false;
};

// Samples from the session's current logits until a stop condition. The chat turn separator
// "\n\n" always stops a reply.
Result<Reply> generate_reply(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                             const ReplyOptions& options = {}, const PieceCallback& on_piece = {});

// Re-runs a stored reply: the same sample() calls (so the generator advances the same way),
// accept() and step() for each token, and the final end-of-text draw when the reply ended so.
Result<void> replay_reply(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                          std::span<const std::int32_t> tokens, StopReason stop_reason,
                          bool ban_end_of_text_first = true);

std::optional<StopReason> stop_reason_from_name(std::string_view name);

// What an assistant message stores besides its ids, as its settings JSON (ravel-cli and the app
// write the same keys): the sampler settings used, how the reply stopped, whether the state
// ended at a blank line, and how to draw its tokens again:
// - "rng_state": the random generator's state when the reply began, so the reply is rebuilt
//   exactly on its own, whatever became of the replies before it;
// - "tokenizer": the id of the tokenizer its ids belong to (another tokenizer reads them as
//   other text, so they are then tokenized again from the text);
// - "separator_follows": the state after the reply includes the turn separator even where the
//   reply did not end at a blank line (the app feeds it before taking the reply's snapshot;
//   ravel-cli feeds it with the next user turn);
// - "reseed" (older ravel-cli rows): the generator restarts from the settings' seed with an
//   empty penalty table. Rows without "rng_state" or "reseed" continue the previous generator.
struct ReplySettings {
    std::optional<SamplerSettings> sampler;  // absent in rows written without it
    StopReason stop_reason = StopReason::StopSequence;
    std::optional<bool> ended_at_blank_line;
    bool reseed = false;
    std::optional<Xoshiro256> rng_state;
    std::string tokenizer;  // empty when not recorded
    bool separator_follows = false;
};

// How a reply was drawn, beside its settings and stop reason.
struct ReplyOrigin {
    Xoshiro256 rng;         // the generator when the reply began
    std::string tokenizer;  // Tokenizer::id()
    bool separator_follows = false;
};

// Never throws: text that is not UTF-8 (a stop sequence cut inside a character) is written
// with U+FFFD.
std::string reply_settings_json(const SamplerSettings& settings, const Reply& reply,
                                const std::optional<ReplyOrigin>& origin = {});
// The JSON is a database row, so it is checked: a damaged object or sampler section is an error;
// missing keys keep the defaults above (fields of `base` for the sampler).
Result<ReplySettings> parse_reply_settings(const std::string& json, const SamplerSettings& base);

}  // namespace ravel::conversation
