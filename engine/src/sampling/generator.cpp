#include "ravel/generator.hpp"

#include <algorithm>
#include <chrono>

namespace ravel {

namespace {
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool is_cancelled(const std::atomic<bool>* flag) {
    return flag != nullptr && flag->load(std::memory_order_relaxed);
}

std::optional<std::int32_t> end_of_text_for(const Tokenizer& tokenizer,
                                            const GenerateOptions& options) {
    return options.end_of_text ? options.end_of_text : tokenizer.end_of_text();
}

// One draw as generate() makes it; replay_generation() makes the same calls so the random
// generator advances identically. `drawn` counts the tokens already fed in this reply.
std::int32_t draw(Sampler& sampler, const Tokenizer& tokenizer, std::span<const float> logits,
                  std::optional<std::int32_t> eot, std::size_t drawn, bool ban_eot_first) {
    std::int32_t ban[1] = {eot.value_or(-1)};
    const bool ban_eot = eot && drawn == 0 && ban_eot_first;
    // Ids past the tokenizer's vocabulary (a model padded beyond it) have no text.
    const std::size_t usable =
        std::min(logits.size(), static_cast<std::size_t>(std::max(0, tokenizer.vocab_size())));
    return sampler.sample(logits.first(usable), ban_eot ? std::span<const std::int32_t>(ban)
                                                        : std::span<const std::int32_t>());
}
}  // namespace

std::string_view stop_reason_name(StopReason reason) {
    switch (reason) {
        case StopReason::StopSequence:
            return "stop_sequence";
        case StopReason::EndOfText:
            return "end_of_text";
        case StopReason::MaxTokens:
            return "max_tokens";
        case StopReason::Callback:
            return "callback";
        case StopReason::Cancelled:
            return "cancelled";
    }
    return "unknown";
}

double GenerationResult::prompt_tokens_per_s() const {
    return prompt_ms > 0.0 ? static_cast<double>(prompt_tokens) * 1000.0 / prompt_ms : 0.0;
}

double GenerationResult::generation_tokens_per_s() const {
    return generation_ms > 0.0 ? static_cast<double>(generated_tokens) * 1000.0 / generation_ms
                               : 0.0;
}

Result<GenerationResult> generate(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                                  std::span<const std::int32_t> prompt,
                                  const GenerateOptions& options, const PieceCallback& on_piece) {
    GenerationResult result;
    const auto prompt_start = Clock::now();
    if (!prompt.empty()) {
        const std::uint64_t before = session.tokens_processed();
        FeedOptions feed;
        feed.chunk_size = options.chunk_size;
        feed.cancel = options.cancel;
        auto fed = session.feed(prompt, feed);
        result.prompt_tokens = static_cast<std::int64_t>(session.tokens_processed() - before);
        result.prompt_ms = ms_since(prompt_start);
        if (!fed) {
            if (fed.cancelled()) {
                result.stop_reason = StopReason::Cancelled;
                return result;
            }
            return fed.error();
        }
    }
    if (session.logits().empty()) {
        return make_error("nothing to generate from: the session has processed no tokens");
    }

    std::vector<std::string> stops = sampler.settings().stop_sequences;
    stops.insert(stops.end(), options.stop_sequences.begin(), options.stop_sequences.end());
    StopMatcher matcher(std::move(stops));
    StreamDecoder decoder(tokenizer);
    const std::optional<std::int32_t> eot = end_of_text_for(tokenizer, options);
    const int max_tokens =
        options.max_tokens > 0 ? options.max_tokens : sampler.settings().max_tokens;

    // Passes visible text on; false when the callback asked to stop.
    const auto emit = [&](const std::string& piece) {
        if (piece.empty()) return true;
        result.text += piece;
        return !on_piece || on_piece(piece);
    };

    const auto gen_start = Clock::now();
    std::span<const float> logits = session.logits();
    result.stop_reason = StopReason::MaxTokens;
    std::string last_bytes;  // the fed text's last two bytes
    bool finished = false;
    while (!finished && result.generated_tokens < max_tokens) {
        if (is_cancelled(options.cancel)) {
            result.stop_reason = StopReason::Cancelled;
            break;
        }
        const std::int32_t token = draw(sampler, tokenizer, logits, eot, result.tokens.size(),
                                        options.ban_end_of_text_first);
        if (token < 0) {
            return make_error("cannot sample: every token is banned or the logits are not finite");
        }
        if (eot && token == *eot) {
            result.stop_reason = StopReason::EndOfText;
            result.drew_end_of_text = true;
            break;
        }
        sampler.accept(token);
        auto stepped = session.step(token);
        if (!stepped) return stepped.error();
        logits = *stepped;
        ++result.generated_tokens;
        result.tokens.push_back(token);
        last_bytes += tokenizer.token_bytes(token);
        if (last_bytes.size() > 2) last_bytes.erase(0, last_bytes.size() - 2);
        result.state_ends_with_blank_line = last_bytes == "\n\n";

        if (!emit(matcher.push(decoder.push(token)))) {
            result.stop_reason = StopReason::Callback;
            finished = true;
        } else if (matcher.stopped()) {
            result.stop_reason = StopReason::StopSequence;
            result.stop_sequence = std::string(matcher.matched());
            finished = true;
        }
    }
    if (result.stop_reason == StopReason::MaxTokens ||
        result.stop_reason == StopReason::EndOfText) {
        // Text held back as a possible stop prefix, or half a character, is part of the reply
        // after all. The callback's answer no longer matters: the reply is over.
        std::string tail = matcher.push(decoder.flush());
        tail += matcher.flush();
        emit(tail);
        if (matcher.stopped()) {
            result.stop_reason = StopReason::StopSequence;
            result.stop_sequence = std::string(matcher.matched());
        }
    }
    result.generation_ms = ms_since(gen_start);
    return result;
}

Result<void> replay_generation(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                               std::span<const std::int32_t> tokens, bool drew_end_of_text,
                               const GenerateOptions& options) {
    const std::optional<std::int32_t> eot = end_of_text_for(tokenizer, options);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (session.logits().empty()) return make_error("replay: a reply with nothing before it");
        (void)draw(sampler, tokenizer, session.logits(), eot, i, options.ban_end_of_text_first);
        sampler.accept(tokens[i]);
        if (auto r = session.step(tokens[i]); !r) return r.error();
    }
    if (drew_end_of_text && !session.logits().empty()) {
        (void)draw(sampler, tokenizer, session.logits(), eot, tokens.size(),
                   options.ban_end_of_text_first);
    }
    return {};
}

void replay_sampler(Sampler& sampler, std::span<const std::int32_t> tokens, bool drew_end_of_text) {
    for (const std::int32_t t : tokens) sampler.accept(t);
    sampler.skip_draws(tokens.size() + (drew_end_of_text ? 1U : 0U));
}

std::shared_ptr<const std::vector<bool>> penalty_exempt_mask(const Tokenizer& tokenizer) {
    const std::int32_t n = tokenizer.vocab_size();
    auto mask = std::make_shared<std::vector<bool>>(static_cast<std::size_t>(n > 0 ? n : 0));
    for (std::int32_t id = 0; id < n; ++id) {
        bool exempt = true;
        for (char c : tokenizer.token_bytes(id)) {
            if (c != ' ' && c != '\t' && (c < '0' || c > '9')) {
                exempt = false;
                break;
            }
        }
        (*mask)[static_cast<std::size_t>(id)] = exempt;
    }
    return mask;
}

}  // namespace ravel
