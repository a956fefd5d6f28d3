#include "conversation/reply.hpp"

#include "ravel/chat_template.hpp"

namespace ravel::conversation {

namespace {

GenerateOptions generate_options(const ReplyOptions& options) {
    GenerateOptions g;
    g.cancel = options.cancel;
    g.max_tokens = options.max_tokens;
    g.ban_end_of_text_first = options.ban_end_of_text_first;
    // The chat turn separator always ends a reply.
    g.stop_sequences = {std::string(ChatTemplate::kReplyStop)};
    return g;
}

}  // namespace

std::optional<StopReason> stop_reason_from_name(std::string_view name) {
    for (StopReason r : {StopReason::StopSequence, StopReason::EndOfText, StopReason::MaxTokens,
                         StopReason::Callback, StopReason::Cancelled}) {
        if (stop_reason_name(r) == name) return r;
    }
    return std::nullopt;
}

Result<Reply> generate_reply(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                             const ReplyOptions& options, const PieceCallback& on_piece) {
    if (session.logits().empty()) {
        return make_error("nothing to reply to: the conversation has no tokens yet");
    }
    auto generated = generate(session, tokenizer, sampler, {}, generate_options(options), on_piece);
    if (!generated) return generated.error();
    Reply reply;
    reply.text = std::move(generated->text);
    reply.tokens = std::move(generated->tokens);
    // The stored stop reason tells replay_reply() whether an end-of-text draw followed the last
    // token, so it is EndOfText whenever one did.
    reply.stop_reason =
        generated->drew_end_of_text ? StopReason::EndOfText : generated->stop_reason;
    reply.generation_ms = generated->generation_ms;
    reply.ended_at_blank_line = generated->ended_at_blank_line();
    return reply;
}

Result<void> replay_reply(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                          std::span<const std::int32_t> tokens, StopReason stop_reason,
                          bool ban_end_of_text_first) {
    ReplyOptions options;
    options.ban_end_of_text_first = ban_end_of_text_first;
    return replay_generation(session, tokenizer, sampler, tokens,
                             stop_reason == StopReason::EndOfText, generate_options(options));
}

}  // namespace ravel::conversation
