// Whole-vocabulary passes of the sampler without loop-carried scalar chains: on a 65536-word
// vocabulary one running maximum or double sum, each step waiting for the last, cost tens of
// microseconds per token.
#pragma once

#include <cstddef>

namespace ravel::detail {

struct LogitScan {
    bool all_finite = false;    // no infinity or NaN among the values
    float max = 0.0f;           // when all_finite: the largest value
    std::size_t first_max = 0;  // when all_finite: the lowest index holding it
};

// One pass over x[0, n); n > 0.
LogitScan scan_logits(const float* x, std::size_t n);

// The sum of x[0, n) over four partial sums (so in another order than a plain loop).
double sum_of(const double* x, std::size_t n);

// The smallest of x[0, n), all finite; n > 0.
float min_of(const float* x, std::size_t n);

// out[b] = the largest of x[16 b, 16 b + 16) for b < n / 16 (a shorter tail is left out), so
// a search for the best few values can skip the blocks that hold none.
constexpr std::size_t kMaximaBlock = 16;
void block_maxima(const float* x, std::size_t n, float* out);

}  // namespace ravel::detail
