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

// out[t] = the row before x[t]: `prev` for t = 0. Writes T rows of n values.
void shift_rows(const float* prev, const float* x, int T, int n, float* out);

// The start of every time- and channel-mixing block: xx = LayerNorm of each of the T rows of x,
// sx = the token-shifted rows (prev for t = 0), and prev becomes the last row of xx.
void norm_and_shift(const float* x, const float* ln_w, const float* ln_b, float* prev, int T, int n,
                    float* xx, float* sx);

}  // namespace ravel::detail
