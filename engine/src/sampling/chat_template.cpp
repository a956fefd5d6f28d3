#include "ravel/chat_template.hpp"

namespace ravel {

namespace {
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

bool blank(std::string_view line) {
    return trim(line).empty();
}
}  // namespace

std::string clean_message_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!blank(line)) {
            if (!out.empty()) out += '\n';
            out += line;
        }
        pos = end + 1;
    }
    return std::string(trim(out));
}

std::optional<ChatTemplate> ChatTemplate::from_name(std::string_view name) {
    if (name == "world") return ChatTemplate(ChatTemplateKind::World);
    if (name == "g1") return ChatTemplate(ChatTemplateKind::G1);
    if (name == "g1-think") return ChatTemplate(ChatTemplateKind::G1Think);
    if (name == "raven") return ChatTemplate(ChatTemplateKind::Raven);
    return std::nullopt;
}

std::string_view ChatTemplate::name() const {
    switch (kind_) {
        case ChatTemplateKind::World:
            return "world";
        case ChatTemplateKind::G1:
            return "g1";
        case ChatTemplateKind::G1Think:
            return "g1-think";
        case ChatTemplateKind::Raven:
            return "raven";
    }
    return "world";
}

std::string_view ChatTemplate::user_prefix() const {
    return kind_ == ChatTemplateKind::Raven ? "Bob:" : "User:";
}

std::string_view ChatTemplate::assistant_prefix() const {
    switch (kind_) {
        case ChatTemplateKind::Raven:
            return "Alice:";
        case ChatTemplateKind::G1Think:
            return "Assistant: <think";
        default:
            return "Assistant:";
    }
}

std::string ChatTemplate::system_block(std::string_view system_text) const {
    const std::string text = clean_message_text(system_text);
    if (text.empty()) return {};
    // Raven models were not trained with a system role; a plain preamble paragraph is what
    // ChatRWKV feeds them.
    if (kind_ == ChatTemplateKind::Raven) return text + std::string(kReplyStop);
    return "System: " + text + std::string(kReplyStop);
}

std::string ChatTemplate::next_turn(std::string_view user_text, bool after_separator) const {
    std::string out;
    if (!after_separator) out += kReplyStop;
    out += user_prefix();
    out += ' ';
    out += clean_message_text(user_text);
    out += kReplyStop;
    out += assistant_prefix();
    return out;
}

std::string ChatTemplate::render(std::span<const ChatMessage> conversation) const {
    std::string out;
    for (const auto& m : conversation) {
        switch (m.role) {
            case ChatRole::System:
                out += system_block(m.text);
                break;
            case ChatRole::User:
                out += user_prefix();
                out += ' ';
                out += clean_message_text(m.text);
                out += kReplyStop;
                break;
            case ChatRole::Assistant: {
                // A reply is stored as generated; after a bare "Assistant:" it normally starts
                // with the space the model wrote, which a trimmed reply lacks.
                const std::string text = clean_message_text(m.text);
                const std::string_view prefix = assistant_prefix();
                out += prefix;
                if (prefix.back() == ':' && !text.empty()) out += ' ';
                out += text;
                out += kReplyStop;
                break;
            }
        }
    }
    out += assistant_prefix();
    return out;
}

}  // namespace ravel
