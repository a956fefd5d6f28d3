#include "conversation/reply.hpp"

#include "conversation/settings_json.hpp"
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

std::string reply_settings_json(const SamplerSettings& settings, const Reply& reply,
                                const std::optional<ReplyOrigin>& origin) {
    nlohmann::json j = {{"sampler", sampler_to_json(settings)},
                        {"stop_reason", stop_reason_name(reply.stop_reason)},
                        {"ended_at_blank_line", reply.ended_at_blank_line}};
    if (origin) {
        j["rng_state"] = origin->rng.state();
        j["tokenizer"] = origin->tokenizer;
        if (origin->separator_follows) j["separator_follows"] = true;
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<ReplySettings> parse_reply_settings(const std::string& json, const SamplerSettings& base) {
    auto j = parse_object(json, "reply settings");
    if (!j) return j.error();
    ReplySettings out;
    if (auto it = j->find("sampler"); it != j->end()) {
        auto s = sampler_from_json(*it, base);
        if (!s) return s.error();
        out.sampler = std::move(s).value();
    }
    if (auto it = j->find("stop_reason"); it != j->end() && it->is_string()) {
        out.stop_reason = stop_reason_from_name(it->get<std::string>()).value_or(out.stop_reason);
    }
    if (auto it = j->find("ended_at_blank_line"); it != j->end() && it->is_boolean()) {
        out.ended_at_blank_line = it->get<bool>();
    }
    if (auto it = j->find("reseed"); it != j->end() && it->is_boolean()) {
        out.reseed = it->get<bool>();
    }
    if (auto it = j->find("rng_state"); it != j->end()) {
        std::array<std::uint64_t, 4> words{};
        bool ok = it->is_array() && it->size() == words.size();
        for (std::size_t i = 0; ok && i < words.size(); ++i) {
            ok = (*it)[i].is_number_unsigned();
            if (ok) words[i] = (*it)[i].get<std::uint64_t>();
        }
        Xoshiro256 rng;
        if (!ok || !rng.set_state(words)) {
            return make_error(
                "reply settings: rng_state is not four unsigned 64-bit words, "
                "not all zero");
        }
        out.rng_state = rng;
    }
    if (auto it = j->find("tokenizer"); it != j->end() && it->is_string()) {
        out.tokenizer = it->get<std::string>();
    }
    if (auto it = j->find("separator_follows"); it != j->end() && it->is_boolean()) {
        out.separator_follows = it->get<bool>();
    }
    return out;
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
