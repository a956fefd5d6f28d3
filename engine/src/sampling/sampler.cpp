#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "logit_scan.hpp"
#include "ravel/sampler.hpp"
#include "shifted_exp.hpp"

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

    // Non-finite logits (a broken model, or a ban) are never candidates. The best candidate is
    // the first (lowest id) of the highest logits. Usually every logit is finite, which one
    // vector pass tells; only otherwise are they checked one by one.
    candidates_.clear();
    std::int32_t best = -1;
    float best_logit = -std::numeric_limits<float>::infinity();
    if (const detail::LogitScan scan = detail::scan_logits(work_.data(), n); scan.all_finite) {
        candidates_.resize(n);
        std::iota(candidates_.begin(), candidates_.end(), 0);
        best = static_cast<std::int32_t>(scan.first_max);
        best_logit = scan.max;
    } else {
        for (std::size_t i = 0; i < n; ++i) {
            const float l = work_[i];
            if (!std::isfinite(l)) continue;
            candidates_.push_back(static_cast<std::int32_t>(i));
            if (best < 0 || l > best_logit) {
                best = static_cast<std::int32_t>(i);
                best_logit = l;
            }
        }
    }
    if (candidates_.empty()) return -1;
    if (settings_.temperature == 0.0f) return best;
    const double max_logit = best_logit;

    // Strict total order: higher logit first, lower id on ties. Every selection below uses it,
    // so the result never depends on how a standard library orders equal elements.
    const auto better = [this](std::int32_t a, std::int32_t b) {
        const float la = work_[static_cast<std::size_t>(a)];
        const float lb = work_[static_cast<std::size_t>(b)];
        return la > lb || (la == lb && a < b);
    };
    // Moves the `count` best candidates to the front, in `better` order (the rest follow in no
    // particular order). The count-th largest logit is found first on plain floats, with a
    // min-heap of the best `count` seen (almost every logit fails the first comparison), so
    // only the few candidates at or above it are ordered through the index comparison. On a
    // 65536-word vocabulary that is several times cheaper than selecting through `better`,
    // with the same result: under a strict total order the best `count` are one set.
    const auto best_values = [&](std::size_t count) {
        values_.clear();
        const auto offer = [&](float l) {
            if (values_.size() < count) {
                values_.push_back(l);
                std::push_heap(values_.begin(), values_.end(), std::greater<float>());
            } else if (l > values_.front()) {
                std::pop_heap(values_.begin(), values_.end(), std::greater<float>());
                values_.back() = l;
                std::push_heap(values_.begin(), values_.end(), std::greater<float>());
            }
        };
        std::size_t i = 0;
        if (candidates_.size() == n) {
            // Every word is a candidate: blocks whose maximum cannot enter the heap (almost
            // all, once it is full) are skipped whole.
            constexpr std::size_t kBlock = detail::kMaximaBlock;
            maxima_.resize(n / kBlock);
            detail::block_maxima(work_.data(), n, maxima_.data());
            for (; i + kBlock <= n; i += kBlock) {
                if (values_.size() == count && !(maxima_[i / kBlock] > values_.front())) continue;
                for (std::size_t j = i; j < i + kBlock; ++j) offer(work_[j]);
            }
        }
        for (; i < candidates_.size(); ++i) offer(work_[static_cast<std::size_t>(candidates_[i])]);
    };
    const auto front_best = [&](std::size_t count) {
        best_values(count);
        const float threshold = values_.front();
        const auto cut = std::partition(
            candidates_.begin(), candidates_.end(),
            [&](std::int32_t t) { return work_[static_cast<std::size_t>(t)] >= threshold; });
        std::sort(candidates_.begin(), cut, better);
    };

    if (settings_.top_k > 0 && static_cast<std::size_t>(settings_.top_k) < candidates_.size()) {
        const auto k = static_cast<std::size_t>(settings_.top_k);
        front_best(k);
        candidates_.resize(k);
        // Back to id order, so the sums and the draw walk the survivors as they always have.
        std::sort(candidates_.begin(), candidates_.end());
    }

    // Untempered probabilities (unnormalised; the best token has weight exactly 1), computed
    // once per candidate because the filters below read them repeatedly.
    probs_.resize(n);
    // For every word at once, in float (relative error 1.5e-7, far below anything a draw can
    // resolve): over a 65536-word vocabulary a double std::exp per candidate took 0.33 ms per
    // token, this 0.03. Only candidates' weights are read.
    const float max_logit_f = best_logit;
    if (candidates_.size() >= n / 8) {
        detail::shifted_exp(work_.data(), n, max_logit_f, probs_.data());
    } else {  // after a small top-k
        for (auto t : candidates_) {
            probs_[static_cast<std::size_t>(t)] =
                std::exp(work_[static_cast<std::size_t>(t)] - max_logit_f);
        }
    }
    const auto prob = [this](std::int32_t t) { return probs_[static_cast<std::size_t>(t)]; };

    // The nucleus over candidates in id order: bucketed by logit in one pass, the buckets above
    // the one where the cumulative weight reaches the target are kept as they are, and only
    // that bucket is ordered. On a flat distribution over 65536 words, sorting a growing
    // prefix instead ordered tens of thousands of candidates (about 1.8 ms per token).
    const auto keep_nucleus = [&](double target, float lowest) {
        constexpr int kBuckets = 1024;
        constexpr std::size_t kSortedBoundary = 256;  // a boundary bucket this small is sorted
        constexpr int kMaxPasses = 4;
        // Candidates more than 64 below the best (weight under e^-64) share the last bucket,
        // so one far outlier does not squeeze every other candidate into the first.
        const double span = std::min(64.0, static_cast<double>(best_logit) - lowest);
        std::size_t kept = 0;
        double cumulative = 0.0;  // the weight of the candidates kept
        // Pass 1 buckets all candidates; when the boundary bucket is still large, its members
        // are bucketed again over their own narrower range, and so on, so a nearly flat
        // distribution never sorts tens of thousands of candidates.
        std::span<const std::int32_t> pool = candidates_;
        float top = best_logit;
        float bottom = static_cast<float>(best_logit - span);
        for (int pass = 0;; ++pass) {
            const float range = top - bottom;
            const float scale = range > 0.0f ? (kBuckets - 1) / range : 0.0f;
            // Four tables of sums, so that runs of candidates in one bucket do not each wait
            // for the previous addition to the same slot.
            bucket_sums_.assign(4 * kBuckets, 0.0);
            buckets_.resize(pool.size());
            for (std::size_t i = 0; i < pool.size(); ++i) {
                const std::int32_t t = pool[i];
                // 0 for the top of the range, kBuckets - 1 at or below its bottom; monotone in
                // the logit, which is all the selection needs.
                const float d = (top - work_[static_cast<std::size_t>(t)]) * scale;
                const int b = static_cast<int>(std::min<float>(kBuckets - 1, d));
                buckets_[i] = static_cast<std::uint16_t>(b);
                bucket_sums_[(i & 3) * kBuckets + static_cast<std::size_t>(b)] += prob(t);
            }
            int boundary = kBuckets - 1;
            for (int b = 0; b < kBuckets; ++b) {
                const double w = (bucket_sums_[static_cast<std::size_t>(b)] +
                                  bucket_sums_[static_cast<std::size_t>(kBuckets + b)]) +
                                 (bucket_sums_[static_cast<std::size_t>(2 * kBuckets + b)] +
                                  bucket_sums_[static_cast<std::size_t>(3 * kBuckets + b)]);
                if (cumulative + w >= target) {
                    boundary = b;
                    break;
                }
                cumulative += w;
            }
            // Kept: every candidate of the buckets above, in id order (the pool is in id
            // order); the boundary bucket's members are gathered for the next step. Both
            // without branches: which side a candidate falls is unpredictable.
            std::size_t members = 0;
            boundary_.resize(pool.size());
            for (std::size_t i = 0; i < pool.size(); ++i) {
                const std::int32_t t = pool[i];
                candidates_[kept] = t;
                kept += buckets_[i] < boundary ? 1 : 0;
                boundary_[members] = t;
                members += buckets_[i] == boundary ? 1 : 0;
            }
            boundary_.resize(members);
            float lo = std::numeric_limits<float>::infinity();
            float hi = -lo;
            for (const std::int32_t t : boundary_) {
                lo = std::min(lo, work_[static_cast<std::size_t>(t)]);
                hi = std::max(hi, work_[static_cast<std::size_t>(t)]);
            }
            // Equal logits are already in `better` order (id order); a small bucket is sorted.
            if (lo == hi || members <= kSortedBoundary || pass == kMaxPasses) {
                if (lo != hi) std::sort(boundary_.begin(), boundary_.end(), better);
                break;
            }
            scratch_.assign(boundary_.begin(), boundary_.end());
            pool = scratch_;
            top = hi;
            bottom = lo;
        }
        // Then the boundary's best until the target is reached (all of it if rounding leaves
        // the target unmet).
        for (const std::int32_t t : boundary_) {
            candidates_[kept++] = t;
            cumulative += prob(t);
            if (cumulative >= target) break;
        }
        candidates_.resize(kept);
    };

    if (settings_.top_p < 1.0f) {
        constexpr std::size_t kNucleusPrefix = 64;
        double total = 0.0;
        float lowest = best_logit;
        if (candidates_.size() == n) {
            total = detail::sum_of(probs_.data(), n);
            lowest = detail::min_of(work_.data(), n);
        } else {
            for (auto t : candidates_) {
                total += prob(t);
                lowest = std::min(lowest, work_[static_cast<std::size_t>(t)]);
            }
        }
        const double target = static_cast<double>(settings_.top_p) * total;
        // The nucleus is the fewest best candidates (in `better` order) whose weights reach
        // the target. It is usually small: when the best kNucleusPrefix logits (the heap
        // front_best builds) weigh enough, only those are ordered.
        bool found = false;
        if (candidates_.size() > kNucleusPrefix) {
            best_values(kNucleusPrefix);
            double prefix_weight = 0.0;
            for (float l : values_) prefix_weight += std::exp(static_cast<double>(l) - max_logit);
            if (prefix_weight >= target) {
                front_best(kNucleusPrefix);
                double cumulative = 0.0;
                for (std::size_t i = 0; i < kNucleusPrefix; ++i) {
                    cumulative += prob(candidates_[i]);
                    if (cumulative >= target) {
                        candidates_.resize(i + 1);
                        found = true;
                        break;
                    }
                }
                // Summed in another order, rounding can leave the target just unmet: the
                // buckets then take the candidates, back in id order.
                if (!found) std::sort(candidates_.begin(), candidates_.end());
            }
        }
        if (!found) keep_nucleus(target, lowest);
    }

    if (settings_.min_p > 0.0f) {
        const double floor = settings_.min_p;  // relative to the best token's weight of 1
        std::erase_if(candidates_, [&](std::int32_t t) { return prob(t) < floor; });
    }

    // Tempered weights: over many candidates for the whole vocabulary in one vector pass (as
    // the untempered ones), else one exp per candidate.
    if (settings_.temperature != 1.0f) {
        const float inv_temp = 1.0f / settings_.temperature;
        // (A best logit so large that dividing it by the temperature overflows a float takes
        // the per-candidate path in double; an overflow far below it only makes a weight 0.)
        if (candidates_.size() >= n / 8 && std::isfinite(best_logit * inv_temp)) {
            scaled_.resize(n);
            for (std::size_t i = 0; i < n; ++i) scaled_[i] = work_[i] * inv_temp;
            detail::shifted_exp(scaled_.data(), n, best_logit * inv_temp, probs_.data());
        } else {
            for (auto t : candidates_) {
                probs_[static_cast<std::size_t>(t)] =
                    std::exp((static_cast<double>(work_[static_cast<std::size_t>(t)]) - max_logit) /
                             static_cast<double>(settings_.temperature));
            }
        }
    }
    // The draw walks the candidates in order: block sums first (four partial sums each, no
    // chain of dependent additions over the whole vocabulary), then one block.
    constexpr std::size_t kDrawBlock = 64;
    const std::size_t m = candidates_.size();
    block_sums_.clear();
    double sum = 0.0;
    for (std::size_t b = 0; b < m; b += kDrawBlock) {
        const std::size_t e = std::min(m, b + kDrawBlock);
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        std::size_t i = b;
        for (; i + 4 <= e; i += 4) {
            s0 += prob(candidates_[i]);
            s1 += prob(candidates_[i + 1]);
            s2 += prob(candidates_[i + 2]);
            s3 += prob(candidates_[i + 3]);
        }
        for (; i < e; ++i) s0 += prob(candidates_[i]);
        block_sums_.push_back((s0 + s1) + (s2 + s3));
        sum += block_sums_.back();
    }
    const double u = rng_.next_double() * sum;
    double acc = 0.0;
    for (std::size_t b = 0; b < block_sums_.size(); ++b) {
        const std::size_t first = b * kDrawBlock;
        const std::size_t e = std::min(m, first + kDrawBlock);
        if (u < acc + block_sums_[b]) {
            for (std::size_t i = first; i < e; ++i) {
                acc += prob(candidates_[i]);
                if (u < acc) return candidates_[i];
            }
            return candidates_[e - 1];  // rounding: the block's own sum was a little larger
        }
        acc += block_sums_[b];
    }
    return candidates_.back();  // u landed in the rounding gap at the very top
}

}  // namespace ravel
