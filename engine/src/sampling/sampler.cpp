// Sampler settings, the penalty table and sample()'s order of steps; the steps themselves
// are in sampler_selection.cpp.
#include <algorithm>
#include <limits>

#include "ravel/sampler.hpp"

namespace ravel {

Sampler::Sampler(SamplerSettings settings) : settings_(std::move(settings)), rng_(settings_.seed) {}

Result<Sampler> Sampler::create(SamplerSettings settings) {
    if (auto r = settings.validate(); !r) return r.error();
    return Sampler(std::move(settings));
}

Result<void> Sampler::update_settings(SamplerSettings settings) {
    if (auto r = settings.validate(); !r) return r;
    settings_ = std::move(settings);
    return {};
}

void Sampler::set_penalty_exempt(std::shared_ptr<const std::vector<bool>> mask) {
    exempt_ = std::move(mask);
}

bool Sampler::exempt(std::int32_t token) const {
    return exempt_ && token >= 0 && static_cast<std::size_t>(token) < exempt_->size() &&
           (*exempt_)[static_cast<std::size_t>(token)];
}

void Sampler::reset() {
    weights_.clear();
    accepted_ = 0;
    rng_ = Xoshiro256(settings_.seed);
}

void Sampler::skip_draws(std::uint64_t count) {
    if (settings_.temperature == 0.0f) return;
    for (std::uint64_t i = 0; i < count; ++i) (void)rng_.next_double();
}

float Sampler::penalty_weight(std::int32_t token) const {
    auto it = weights_.find(token);
    return it == weights_.end() ? 0.0f : it->second;
}

void Sampler::accept(std::int32_t token) {
    const float decay = settings_.penalty_decay;
    for (auto it = weights_.begin(); it != weights_.end();) {
        it->second *= decay;
        // An entry that underflowed (or decay 0) no longer penalises anything; dropping it keeps
        // the table, and the resume record, from growing without bound.
        it = it->second > 0.0f ? std::next(it) : weights_.erase(it);
    }
    if (token >= 0 && !exempt(token)) weights_[token] += 1.0f;
    ++accepted_;
}

void Sampler::adjust_logits(std::span<float> logits,
                            std::span<const std::int32_t> extra_bans) const {
    const std::size_t n = logits.size();
    auto ban = [&](std::int32_t t) {
        if (t >= 0 && static_cast<std::size_t>(t) < n) {
            logits[static_cast<std::size_t>(t)] = -std::numeric_limits<float>::infinity();
        }
    };
    for (auto t : settings_.banned_tokens) ban(t);
    for (auto t : extra_bans) ban(t);
    if (settings_.presence_penalty == 0.0f && settings_.frequency_penalty == 0.0f) return;
    for (const auto& [t, w] : weights_) {
        if (static_cast<std::size_t>(t) < n && w > 0.0f) {
            logits[static_cast<std::size_t>(t)] -=
                settings_.presence_penalty + w * settings_.frequency_penalty;
        }
    }
}

std::int32_t Sampler::sample(std::span<const float> logits,
                             std::span<const std::int32_t> extra_bans) {
    const std::size_t n = logits.size();
    if (n == 0 || n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
        return -1;
    }
    work_.assign(logits.begin(), logits.end());
    adjust_logits(work_, extra_bans);

    float best_logit = 0.0f;
    const std::int32_t best = collect_candidates(best_logit);
    if (best < 0) return -1;
    if (settings_.temperature == 0.0f) return best;

    if (settings_.top_k > 0 && static_cast<std::size_t>(settings_.top_k) < candidates_.size()) {
        const auto k = static_cast<std::size_t>(settings_.top_k);
        best_values(k);
        order_best();
        candidates_.resize(k);
        // Back to id order, so the sums and the draw walk the survivors as they always have.
        std::sort(candidates_.begin(), candidates_.end());
    }

    // Untempered probabilities (unnormalised; the best token has weight exactly 1), computed
    // once per candidate because the filters below read them repeatedly; without filters, and
    // at another temperature, only the tempered ones are needed.
    const bool filtered = settings_.top_p < 1.0f || settings_.min_p > 0.0f;
    if (filtered || settings_.temperature == 1.0f) set_weights(best_logit, 1.0f);
    if (settings_.top_p < 1.0f) keep_top_p(best_logit);
    if (settings_.min_p > 0.0f) {
        const double floor = settings_.min_p;  // relative to the best token's weight of 1
        std::erase_if(candidates_, [&](std::int32_t t) { return prob(t) < floor; });
    }
    if (settings_.temperature != 1.0f) set_weights(best_logit, settings_.temperature);
    return draw();
}

}  // namespace ravel
