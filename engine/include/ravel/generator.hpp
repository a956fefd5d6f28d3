// Text generation: feed a prompt through a Session in chunks, then sample, feed and stream one
// token at a time until a stop condition. Small on purpose: the chat front ends (terminal, GUI
// worker) own the conversation; this owns one reply.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"
#include "ravel/sampler.hpp"
#include "ravel/session.hpp"
#include "ravel/tokenizer.hpp"

namespace ravel {

// Finds stop sequences in streamed text without ever releasing any part of one: text that could
// still become a stop sequence is held back until the next piece settles it.
class StopMatcher {
  public:
    explicit StopMatcher(std::vector<std::string> stops = {});

    // Appends `text`; returns what may be shown now. After a match, returns the text before the
    // stop sequence and ignores everything later.
    std::string push(std::string_view text);
    // Releases held-back text at the end of a reply that did not stop on a sequence.
    std::string flush();

    bool stopped() const { return matched_ >= 0; }
    // The stop sequence that matched ("" while none has).
    std::string_view matched() const;
    std::size_t held_bytes() const { return held_.size(); }

  private:
    std::vector<std::string> stops_;
    std::string held_;
    int matched_ = -1;
};

enum class StopReason {
    StopSequence,  // a stop sequence appeared (it is not part of the reply)
    EndOfText,     // the model chose end-of-text (not fed to the state)
    MaxTokens,
    Callback,   // the piece callback returned false
    Cancelled,  // the cancel flag was set (between chunks or tokens)
};
std::string_view stop_reason_name(StopReason reason);  // "stop_sequence", "end_of_text", ...

// Receives each piece of visible reply text (complete UTF-8); returning false stops generation.
using PieceCallback = std::function<bool(std::string_view piece)>;

struct GenerateOptions {
    // Prompt tokens per sequence-mode chunk; cancellation is checked between chunks.
    int chunk_size = 64;
    const std::atomic<bool>* cancel = nullptr;
    // Overrides the sampler settings' max_tokens when > 0.
    int max_tokens = 0;
    // Stop sequences in addition to the sampler settings' (e.g. "\n\n" for chat).
    std::vector<std::string> stop_sequences;
    // The id that ends the reply; defaults to the tokenizer's end-of-text (none for bytes).
    std::optional<std::int32_t> end_of_text;
    // A reply must say something: end-of-text is banned for its first token (as ChatRWKV does).
    bool ban_end_of_text_first = true;
};

struct GenerationResult {
    std::string text;  // everything passed to the callback, in order
    StopReason stop_reason = StopReason::MaxTokens;
    std::string stop_sequence;          // the one that matched, for StopReason::StopSequence
    std::int64_t prompt_tokens = 0;     // prompt tokens fed by this call
    std::int64_t generated_tokens = 0;  // sampled tokens fed to the state (end-of-text excluded)
    // Those tokens, in order. A conversation keeps them: re-tokenizing `text` would not give
    // them back (a World text has several encodings) and the stop sequence is not in `text`.
    std::vector<std::int32_t> tokens;
    // The last draw was end-of-text (drawn, not fed). Usually stop_reason is then EndOfText, but
    // text released at the end may still complete a stop sequence; replay_generation() needs
    // to know the draw happened either way.
    bool drew_end_of_text = false;
    // The bytes of the fed tokens end with "\n\n" (a stop sequence can match inside a token, so
    // the stop reason alone does not say where the state ends).
    bool state_ends_with_blank_line = false;
    double prompt_ms = 0.0;
    double generation_ms = 0.0;

    double prompt_tokens_per_s() const;
    double generation_tokens_per_s() const;
    // True when the state now ends with "\n\n", i.e. a chat reply ended cleanly at a blank line
    // and the next user turn can follow directly.
    bool ended_at_blank_line() const { return state_ends_with_blank_line; }
};

// Feeds `prompt` (may be empty to continue from the session's current logits), then generates.
// Only ids the tokenizer can decode are sampled (a model's vocabulary may be padded beyond it).
// Every sampled token except end-of-text is accepted by the sampler and fed to the session before
// the next is drawn, so afterwards the session's state and logits follow the last reply token.
// Errors: the session has no logits to start from, every token is banned, or the model fails.
// Cancellation is not an error: the result says StopReason::Cancelled.
Result<GenerationResult> generate(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                                  std::span<const std::int32_t> prompt,
                                  const GenerateOptions& options = {},
                                  const PieceCallback& on_piece = {});

// Re-runs a reply generate() made, from the session and sampler generate() started from (after
// the prompt): the same draws, so the random generator advances identically, then accept() and
// step() for each of `tokens`, and the end-of-text draw when `drew_end_of_text`. Afterwards the
// session and sampler are where generate() left them. This is how a conversation is rebuilt from
// stored token ids; it must stay in step with generate(). Only `end_of_text` and
// `ban_end_of_text_first` of `options` matter here.
Result<void> replay_generation(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                               std::span<const std::int32_t> tokens, bool drew_end_of_text,
                               const GenerateOptions& options = {});

// The sampler's part of replay_generation() alone: accepts each token and moves the random
// generator past the draws generate() made for them (one per token, and one more when an
// end-of-text draw ended the reply). With the tokens fed to the session as a prompt, a reply is
// rebuilt at prompt speed instead of one step per token: the sampler ends exactly where
// generate() left it, the state equal up to the rounding of the prompt path.
void replay_sampler(Sampler& sampler, std::span<const std::int32_t> tokens, bool drew_end_of_text);

// The penalty exemption ChatRWKV uses: tokens whose text is only spaces, tabs or digits (and
// tokens with no text, like end-of-text) gain no repetition weight.
std::shared_ptr<const std::vector<bool>> penalty_exempt_mask(const Tokenizer& tokenizer);

}  // namespace ravel
