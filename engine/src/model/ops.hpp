// Element-wise and normalisation kernels shared by every RWKV version.
#pragma once

#include <cmath>
#include <cstddef>

namespace ravel::detail {

constexpr float kLayerNormEps = 1e-5f;
constexpr float kGroupNormEps = 64e-5f;  // ChatRWKV's ln_x eps for v5.2, v6 and v7

// y = (x - mean) / sqrt(var + eps) * w + b over n values (biased variance).
void layer_norm(const float* x, const float* w, const float* b, float* y, int n,
                float eps = kLayerNormEps);
// Layer norm applied independently to each of `groups` groups of `n / groups` values.
void group_norm(float* x, const float* w, const float* b, int n, int groups, float eps);

inline float sigmoid(float x) {
    return 1.0f / (1.0f + std::exp(-x));
}
inline float silu(float x) {
    return x * sigmoid(x);
}

// out[t] = the row before x[t]: `prev` for t = 0. Writes T rows of n values.
void shift_rows(const float* prev, const float* x, int T, int n, float* out);

}  // namespace ravel::detail
