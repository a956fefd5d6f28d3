#include "conversation/reply.hpp"

#include <chrono>

#include "ravel/chat_template.hpp"

namespace ravel::conversation {

namespace {

std::span<const std::int32_t> bans_for(std::int32_t* storage, std::optional<std::int32_t> eot,
                                       std::size_t generated, bool ban_first) {
    if (eot && generated == 0 && ban_first) {
        storage[0] = *eot;
        return {storage, 1};
    }
    return {};
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
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> stops = sampler.settings().stop_sequences;
    stops.emplace_back(ChatTemplate::kReplyStop);
    StopMatcher matcher(std::move(stops));
    StreamDecoder decoder(tokenizer);
    const auto eot = tokenizer.end_of_text();
    const int max_tokens =
        options.max_tokens > 0 ? options.max_tokens : sampler.settings().max_tokens;

    Reply reply;
    std::string fed_bytes;  // to tell whether the state ends with the turn separator
    auto emit = [&](const std::string& piece) {
        if (piece.empty()) return true;
        reply.text += piece;
        return !on_piece || on_piece(piece);
    };
    std::span<const float> logits = session.logits();
    bool finished = false;
    while (!finished && static_cast<int>(reply.tokens.size()) < max_tokens) {
        if (options.cancel != nullptr && options.cancel->load()) {
            reply.stop_reason = StopReason::Cancelled;
            break;
        }
        std::int32_t ban[1];
        const std::int32_t token = sampler.sample(
            logits, bans_for(ban, eot, reply.tokens.size(), options.ban_end_of_text_first));
        if (token < 0) {
            return make_error("cannot sample: every token is banned or the logits are not finite");
        }
        if (eot && token == *eot) {
            reply.stop_reason = StopReason::EndOfText;
            break;
        }
        sampler.accept(token);
        auto stepped = session.step(token);
        if (!stepped) return stepped.error();
        logits = *stepped;
        reply.tokens.push_back(token);
        fed_bytes += tokenizer.token_bytes(token);
        if (!emit(matcher.push(decoder.push(token)))) {
            reply.stop_reason = StopReason::Callback;
            finished = true;
        } else if (matcher.stopped()) {
            reply.stop_reason = StopReason::StopSequence;
            finished = true;
        }
    }
    if (reply.stop_reason == StopReason::MaxTokens || reply.stop_reason == StopReason::EndOfText) {
        std::string tail = matcher.push(decoder.flush());
        tail += matcher.flush();
        emit(tail);
    }
    reply.ended_at_blank_line = fed_bytes.size() >= 2 && fed_bytes.ends_with("\n\n");
    reply.generation_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return reply;
}

Result<void> replay_reply(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                          std::span<const std::int32_t> tokens, StopReason stop_reason,
                          bool ban_end_of_text_first) {
    const auto eot = tokenizer.end_of_text();
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (session.logits().empty()) return make_error("replay: reply with no context");
        std::int32_t ban[1];
        (void)sampler.sample(session.logits(), bans_for(ban, eot, i, ban_end_of_text_first));
        sampler.accept(tokens[i]);
        if (auto r = session.step(tokens[i]); !r) return r.error();
    }
    if (stop_reason == StopReason::EndOfText && !session.logits().empty()) {
        std::int32_t ban[1];
        (void)sampler.sample(session.logits(),
                             bans_for(ban, eot, tokens.size(), ban_end_of_text_first));
    }
    return {};
}

}  // namespace ravel::conversation
