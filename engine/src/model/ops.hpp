// Element-wise and normalisation kernels shared by every RWKV version.
#pragma once

#include <cmath>
#include <cstddef>
#include <functional>
#include <span>

namespace ravel::detail {

class ThreadPool;

constexpr float kLayerNormEps = 1e-5f;
constexpr float kGroupNormEps = 64e-5f;  // ChatRWKV's ln_x eps for v5.2, v6 and v7

// y = (x - mean) / sqrt(var + eps) * w + b over n values (biased variance).
void layer_norm(const float* x, const float* w, const float* b, float* y, int n,
                float eps = kLayerNormEps);
// Layer norm applied independently to each of `groups` groups of `n / groups` values.
void group_norm(float* x, const float* w, const float* b, int n, int groups, float eps);

// Runs fn(r0, r1) over disjoint row ranges covering [0, rows), split across `pool` when the
// rows (of about `per_row` values of element-wise work each) are enough to pay for waking the
// workers; otherwise on the calling thread. Blocks are claimed on demand, so a thread that lost
// its core to another process does not hold the others back. Rows must be independent.
void parallel_rows(ThreadPool* pool, int rows, std::size_t per_row,
                   const std::function<void(int, int)>& fn);

// Dot product with independent partial sums, so it vectorises without reassociation flags.
inline float dot(const float* a, const float* b, int n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

inline float sigmoid(float x) {
    return 1.0f / (1.0f + std::exp(-x));
}
inline float silu(float x) {
    return x * sigmoid(x);
}

// The token-shifted inputs of a block: for every mix vector, out = x + (prev - x) * mix (Lerp:
// v6, v7) or x * mix + prev * (1 - mix) (Blend: v4, v5.2), over T rows of n values, where xx
// holds the normed rows and sx the shifted ones (see norm_and_shift). On `pool` when large.
struct ShiftMix {
    const float* mix;
    float* out;
};
enum class MixRule { Lerp, Blend };
void shift_mix(const float* xx, const float* sx, int T, int n, std::span<const ShiftMix> mixes,
               MixRule rule, ThreadPool* pool);

// Asks for the cache lines of n floats at v: into L1 when they are read next (`now`), into L2
// when they are asked for ahead of time.
void prefetch_floats(const float* v, int n, bool now);

// The start of every time- and channel-mixing block. `rows` holds T + 1 rows of n values: row 0
// becomes `prev` and rows 1..T the LayerNorm of each row of x, so rows + n is the normed input
// and `rows` itself its token-shifted copy with no copying. prev becomes the last normed row.
// `next` are the mixes the block applies next (shift_mix). When decoding, the block's small
// vectors (norm weights, prev, the mix vectors) have been pushed out of the caches by the
// megabytes of weights streamed since the last token; read one after another they are waited
// for in turn, so they are all asked for first (v7 0.1B q4_0: the attention block's norm and
// six mixes took 3.3-5.6 us per layer, 2.6-3.1 that way).
void norm_and_shift(const float* x, const float* ln_w, const float* ln_b, float* prev, int T, int n,
                    float* rows, ThreadPool* pool, std::span<const ShiftMix> next);

// x += y over T rows of n values (the residual adds), on `pool` when large enough.
void add_rows(float* x, const float* y, int T, int n, ThreadPool* pool);

}  // namespace ravel::detail
