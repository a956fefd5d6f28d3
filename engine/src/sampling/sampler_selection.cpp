// The candidate selection and the draw of Sampler::sample(): which words may be drawn, their
// weights, the top-k / top-p cuts and the weighted draw, each over a whole vocabulary per
// token without sorting it.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "logit_scan.hpp"
#include "ravel/sampler.hpp"
#include "shifted_exp.hpp"

namespace ravel {

// Strict total order: higher logit first, lower id on ties. Every selection uses it, so the
// result never depends on how a standard library orders equal elements.
bool Sampler::better(std::int32_t a, std::int32_t b) const {
    const float la = work_[static_cast<std::size_t>(a)];
    const float lb = work_[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
}

std::int32_t Sampler::collect_candidates(float& best_logit) {
    // Non-finite logits (a broken model, or a ban) are never candidates. The best candidate is
    // the first (lowest id) of the highest logits. Usually every logit is finite, which one
    // vector pass tells; only otherwise are they checked one by one.
    const std::size_t n = work_.size();
    candidates_.clear();
    std::int32_t best = -1;
    best_logit = -std::numeric_limits<float>::infinity();
    if (const detail::LogitScan scan = detail::scan_logits(work_.data(), n); scan.all_finite) {
        candidates_.resize(n);
        std::iota(candidates_.begin(), candidates_.end(), 0);
        best_logit = scan.max;
        return static_cast<std::int32_t>(scan.first_max);
    }
    for (std::size_t i = 0; i < n; ++i) {
        const float l = work_[i];
        if (!std::isfinite(l)) continue;
        candidates_.push_back(static_cast<std::int32_t>(i));
        if (best < 0 || l > best_logit) {
            best = static_cast<std::int32_t>(i);
            best_logit = l;
        }
    }
    return best;
}

// The `count` largest candidate logits into values_, as a min-heap (front: the smallest of them).
// The count-th largest logit is found on plain floats (almost every logit fails the first
// comparison), so order_best orders only the few candidates at or above it through the index
// comparison: on a 65536-word vocabulary several times cheaper than selecting through
// `better`, with the same result, since under a strict total order the best `count` are one set.
void Sampler::best_values(std::size_t count) {
    const std::size_t n = work_.size();
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
        // Every word is a candidate: blocks whose maximum cannot enter the heap (almost all,
        // once it is full) are skipped whole.
        constexpr std::size_t kBlock = detail::kMaximaBlock;
        maxima_.resize(n / kBlock);
        detail::block_maxima(work_.data(), n, maxima_.data());
        for (; i + kBlock <= n; i += kBlock) {
            if (values_.size() == count && !(maxima_[i / kBlock] > values_.front())) continue;
            for (std::size_t j = i; j < i + kBlock; ++j) offer(work_[j]);
        }
    }
    for (; i < candidates_.size(); ++i) offer(work_[static_cast<std::size_t>(candidates_[i])]);
}

// After best_values(count): moves the `count` best candidates to the front, in `better` order
// (the rest follow in no particular order).
void Sampler::order_best() {
    const float threshold = values_.front();
    const auto cut = std::partition(candidates_.begin(), candidates_.end(), [&](std::int32_t t) {
        return work_[static_cast<std::size_t>(t)] >= threshold;
    });
    std::sort(candidates_.begin(), cut,
              [this](std::int32_t a, std::int32_t b) { return better(a, b); });
}

void Sampler::set_weights(float best_logit, float temperature) {
    const std::size_t n = work_.size();
    probs_.resize(n);
    // Over many candidates for the whole vocabulary at once, in float (relative error 1.5e-7,
    // far below anything a draw can resolve): a double std::exp per candidate took 0.33 ms per
    // token over 65536 words, this 0.03. Only candidates' weights are read. A best logit so
    // large that dividing it by the temperature overflows a float takes the per-candidate path
    // in double; an overflow far below it only makes a weight 0.
    const float inv_temp = 1.0f / temperature;
    if (candidates_.size() >= n / 8 && std::isfinite(best_logit * inv_temp)) {
        const float* x = work_.data();
        if (temperature != 1.0f) {
            scaled_.resize(n);
            for (std::size_t i = 0; i < n; ++i) scaled_[i] = work_[i] * inv_temp;
            x = scaled_.data();
        }
        detail::shifted_exp(x, n, best_logit * inv_temp, probs_.data());
        return;
    }
    for (auto t : candidates_) {
        probs_[static_cast<std::size_t>(t)] =
            std::exp((static_cast<double>(work_[static_cast<std::size_t>(t)]) - best_logit) /
                     static_cast<double>(temperature));
    }
}

void Sampler::keep_top_p(float best_logit) {
    const std::size_t n = work_.size();
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
    // The nucleus is the fewest best candidates (in `better` order) whose weights reach the
    // target. It is usually small: when the best kNucleusPrefix logits weigh enough, only
    // those are ordered.
    if (candidates_.size() > kNucleusPrefix) {
        best_values(kNucleusPrefix);
        double prefix_weight = 0.0;
        for (float l : values_) {
            prefix_weight += std::exp(static_cast<double>(l) - static_cast<double>(best_logit));
        }
        if (prefix_weight >= target) {
            order_best();
            double cumulative = 0.0;
            for (std::size_t i = 0; i < kNucleusPrefix; ++i) {
                cumulative += prob(candidates_[i]);
                if (cumulative >= target) {
                    candidates_.resize(i + 1);
                    return;
                }
            }
            // Summed in another order, rounding can leave the target just unmet: the buckets
            // then take the candidates, back in id order.
            std::sort(candidates_.begin(), candidates_.end());
        }
    }
    keep_nucleus(target, best_logit, lowest);
}

// The nucleus over candidates in id order: bucketed by logit in one pass, the buckets above
// the one where the cumulative weight reaches the target are kept as they are, and only that
// bucket is looked at further (bucketed again while large, then ordered). On a flat
// distribution over 65536 words, sorting a growing prefix instead ordered tens of thousands
// of candidates (about 1.8 ms per token).
void Sampler::keep_nucleus(double target, float best_logit, float lowest) {
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
            if (lo != hi) {
                std::sort(boundary_.begin(), boundary_.end(),
                          [this](std::int32_t a, std::int32_t b) { return better(a, b); });
            }
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
}

std::int32_t Sampler::draw() {
    // A weighted draw walking the candidates in order: block sums first (four partial sums
    // each, no chain of dependent additions over the whole vocabulary), then one block.
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
