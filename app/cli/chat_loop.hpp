// The terminal chat behind `ravel-cli chat`: one conversation held as a live Session, fed one
// user turn at a time (only the new turn is processed; the state already holds the rest).
// Kept apart from argument parsing so storage (--db, resume from snapshots) can wrap it later.
#pragma once

#include <atomic>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/chat_template.hpp"
#include "ravel/generator.hpp"
#include "ravel/model.hpp"
#include "ravel/result.hpp"
#include "ravel/sampler.hpp"
#include "ravel/session.hpp"
#include "ravel/tokenizer.hpp"

namespace ravel::cli {

struct ChatConfig {
    SamplerSettings sampler = SamplerSettings::chat_defaults();
    ChatTemplate chat_template;
    std::string system;
    int chunk_size = kDefaultPromptChunk;
    SessionOptions session;  // threads: 0 = one per physical core
};

struct ChatTurn {
    std::string reply;  // as shown: leading whitespace trimmed
    GenerationResult generation;
};

class ChatLoop {
  public:
    ChatLoop(std::shared_ptr<const Model> model, std::unique_ptr<Tokenizer> tokenizer,
             ChatConfig config);

    // Answers one user message, streaming the visible reply through `on_piece`.
    Result<ChatTurn> send(std::string_view user_text, const PieceCallback& on_piece = {});
    // Answers the last user message again from the state before it, with fresh random draws.
    Result<ChatTurn> regenerate(const PieceCallback& on_piece = {});
    // Starts a new conversation (the system prompt is fed again with the next message).
    void reset();
    // "/set NAME VALUE": temperature, top_p, top_k, min_p, presence, frequency, decay,
    // max_tokens, seed, system. '-' and '_' are interchangeable in NAME.
    Result<void> set(std::string_view name, std::string_view value);
    std::string describe_settings() const;

    const std::vector<ChatMessage>& transcript() const { return transcript_; }
    const ChatConfig& config() const { return config_; }
    const Tokenizer& tokenizer() const { return *tokenizer_; }

    // Replies stop (StopReason::Cancelled) once `flag` is set; null for none.
    void set_cancel_flag(const std::atomic<bool>* flag) { cancel_ = flag; }

    // Reads lines from `in` until EOF or /quit; returns the exit code. Ctrl-C cancels a reply
    // and, at the prompt, ends the chat (see ChatInterrupt).
    int run_interactive(std::istream& in, std::ostream& out, std::ostream& err);
    // One turn per prompt; with `json`, one JSON object per line and turn.
    int run_prompts(const std::vector<std::string>& prompts, bool json, std::ostream& out,
                    std::ostream& err);

  private:
    struct Checkpoint {
        Session session;
        Sampler sampler;
        bool after_separator;
    };
    Result<ChatTurn> answer(std::string_view user_text, const PieceCallback& on_piece);

    std::shared_ptr<const Model> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
    ChatConfig config_;
    Session session_;
    Sampler sampler_;
    std::shared_ptr<const std::vector<bool>> exempt_;
    // True when the state ends at a turn boundary ("\n\n" or nothing fed yet).
    bool after_separator_ = true;
    std::vector<ChatMessage> transcript_;
    // The conversation just before the last user message, for /regen.
    std::optional<Checkpoint> before_last_;
    const std::atomic<bool>* cancel_ = nullptr;
};

}  // namespace ravel::cli
