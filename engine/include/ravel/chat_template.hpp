// Chat prompt formats of the RWKV model families. A template turns a conversation into the text
// the model is fed; the reply is whatever the model writes after the assistant prefix, up to a
// blank line ("\n\n") or end-of-text.
//
//   world, g1:  [System: S\n\n] User: U\n\nAssistant: A\n\nUser: U\n\nAssistant:
//   g1-think:   the same, but each assistant turn opens with "Assistant: <think"
//   raven:      [S\n\n] Bob: U\n\nAlice: A\n\nBob: U\n\nAlice:
//
// Because "\n\n" separates turns, blank lines inside a message are collapsed to single newlines
// (ChatRWKV does the same), and surrounding whitespace is trimmed.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ravel {

enum class ChatRole { System, User, Assistant };

struct ChatMessage {
    ChatRole role = ChatRole::User;
    // For the assistant: the reply as generated (after the prefix, without the stop text).
    std::string text;
};

enum class ChatTemplateKind { World, G1, G1Think, Raven };

class ChatTemplate {
  public:
    explicit ChatTemplate(ChatTemplateKind kind = ChatTemplateKind::World) : kind_(kind) {}
    // "world", "g1", "g1-think", "raven"; nullopt for anything else.
    static std::optional<ChatTemplate> from_name(std::string_view name);

    ChatTemplateKind kind() const { return kind_; }
    std::string_view name() const;

    // The whole prompt for a conversation, ending with the assistant prefix that asks for the
    // next reply. System messages are placed where they occur (normally first).
    std::string render(std::span<const ChatMessage> conversation) const;

    // What to feed a state that already holds the conversation so far, to ask for a reply to
    // `user_text`. `after_separator` says the state already ends with "\n\n" (the previous reply
    // stopped at a blank line, or nothing was fed yet); otherwise the separator comes first.
    std::string next_turn(std::string_view user_text, bool after_separator = true) const;
    // The opening system block for a fresh state ("" when `system_text` is blank).
    std::string system_block(std::string_view system_text) const;

    // Text that ends a reply.
    static constexpr std::string_view kReplyStop = "\n\n";
    // The text after which the model writes its reply (e.g. "Assistant:" or "Assistant: <think").
    std::string_view assistant_prefix() const;
    std::string_view user_prefix() const;

  private:
    ChatTemplateKind kind_;
};

// Trims surrounding whitespace, turns CRLF into LF and drops blank lines, so a message never
// contains the "\n\n" turn separator.
std::string clean_message_text(std::string_view text);

}  // namespace ravel
