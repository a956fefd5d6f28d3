#include <cmath>
#include <sstream>

#include "ravel/sampler.hpp"

namespace ravel {

namespace {
constexpr int kMaxTokensLimit = 1'000'000;
constexpr std::size_t kMaxStopSequences = 32;
constexpr std::size_t kMaxStopSequenceBytes = 256;
constexpr std::size_t kMaxBannedTokens = 1 << 20;

std::string number(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

Result<void> check_range(const char* name, double v, double lo, double hi, bool lo_open = false,
                         bool hi_open = false) {
    const bool below = lo_open ? !(v > lo) : !(v >= lo);
    const bool above = hi_open ? !(v < hi) : !(v <= hi);
    if (std::isfinite(v) && !below && !above) return {};
    return make_error(std::string("sampler setting ") + name + " must be in " +
                      (lo_open ? "(" : "[") + number(lo) + ", " + number(hi) +
                      (hi_open ? ")" : "]") + ", got " + number(v));
}
}  // namespace

SamplerSettings SamplerSettings::chat_defaults() {
    SamplerSettings s;
    s.temperature = 1.0f;
    s.top_p = 0.3f;
    s.presence_penalty = 0.5f;
    s.frequency_penalty = 0.5f;
    s.penalty_decay = 0.996f;
    return s;
}

Result<void> SamplerSettings::validate() const {
    if (auto r = check_range("temperature", temperature, 0.0, 5.0); !r) return r;
    if (top_k < 0)
        return make_error("sampler setting top_k must be >= 0 (0 = off), got " +
                          std::to_string(top_k));
    if (auto r = check_range("top_p", top_p, 0.0, 1.0, /*lo_open=*/true); !r) return r;
    if (auto r = check_range("min_p", min_p, 0.0, 1.0, false, /*hi_open=*/true); !r) return r;
    if (auto r = check_range("presence_penalty", presence_penalty, -5.0, 5.0); !r) return r;
    if (auto r = check_range("frequency_penalty", frequency_penalty, -5.0, 5.0); !r) return r;
    if (auto r = check_range("penalty_decay", penalty_decay, 0.0, 1.0); !r) return r;
    if (max_tokens < 1 || max_tokens > kMaxTokensLimit) {
        return make_error("sampler setting max_tokens must be in [1, " +
                          std::to_string(kMaxTokensLimit) + "], got " + std::to_string(max_tokens));
    }
    if (banned_tokens.size() > kMaxBannedTokens) {
        return make_error("sampler setting banned_tokens has " +
                          std::to_string(banned_tokens.size()) + " entries, at most " +
                          std::to_string(kMaxBannedTokens) + " allowed");
    }
    for (auto t : banned_tokens) {
        if (t < 0) {
            return make_error("sampler setting banned_tokens holds a negative token id " +
                              std::to_string(t));
        }
    }
    if (stop_sequences.size() > kMaxStopSequences) {
        return make_error("sampler setting stop_sequences has " +
                          std::to_string(stop_sequences.size()) + " entries, at most " +
                          std::to_string(kMaxStopSequences) + " allowed");
    }
    for (const auto& s : stop_sequences) {
        if (s.empty()) return make_error("sampler setting stop_sequences holds an empty string");
        if (s.size() > kMaxStopSequenceBytes) {
            return make_error("sampler setting stop_sequences holds a " + std::to_string(s.size()) +
                              "-byte string, at most " + std::to_string(kMaxStopSequenceBytes) +
                              " bytes allowed");
        }
    }
    return {};
}

}  // namespace ravel
