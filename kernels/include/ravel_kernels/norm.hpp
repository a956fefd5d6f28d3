// Normalisations over fp32 activations: LayerNorm per token row, the per-head GroupNorm of the
// time-mixing output fused with its gate (and RWKV-7's r.k bonus), and per-head L2 normalisation.
#pragma once

#include "ravel_kernels/common.hpp"
#include "ravel_kernels/elementwise.hpp"

namespace ravel::kernels {

// y[t] = (x[t] - mean) / sqrt(var + eps) * w + b for T rows of C values (biased variance).
Status layer_norm(const float* x, const float* w, const float* b, float* y, int T, int C, float eps,
                  Stream stream);

// Decoding's LayerNorm and token shift in one launch, for one token: xx = layer_norm(x) * w + b,
// then the mixes of `set` against prev (the previous token's normalised row; offsets indexed
// by channel), then prev = xx: the very values of layer_norm, token_mix and a copy.
Status layer_norm_shift(const float* x, const float* w, const float* b, float* xx, float* prev,
                        int C, float eps, const MixSet& set, MixMode mode, Stream stream);
// In place over T rows of C = H * N values, per head h:
//   y = group_norm(y) * w + b;  y += (sum_i r_i k_i rk_i) * v  when r is given (RWKV-7);
//   y *= g  when g is given.
struct GroupNormOut {
    const float* w = nullptr;
    const float* b = nullptr;
    const float* g = nullptr;  // gate, T x C, or null
    const float* r = nullptr;  // RWKV-7 bonus inputs (T x C), or null
    const float* k = nullptr;
    const float* rk = nullptr;  // C values
    const float* v = nullptr;
};
Status group_norm_out(float* y, int T, int H, int N, float eps, const GroupNormOut& p,
                      Stream stream);

// x[g] /= max(|x[g]|_2, eps) for `groups` consecutive groups of N values.
Status l2_normalize(float* x, int groups, int N, float eps, Stream stream);

}  // namespace ravel::kernels
