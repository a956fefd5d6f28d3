#include "model/ops.hpp"

#include <cstring>

namespace ravel::detail {

void layer_norm(const float* x, const float* w, const float* b, float* y, int n, float eps) {
    // Double accumulation keeps the statistics exact enough to match the reference whatever
    // order the sums run in.
    double mean = 0;
    for (int i = 0; i < n; ++i) mean += x[i];
    mean /= n;
    double var = 0;
    for (int i = 0; i < n; ++i) {
        const double d = x[i] - mean;
        var += d * d;
    }
    var /= n;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float m = static_cast<float>(mean);
    for (int i = 0; i < n; ++i) y[i] = (x[i] - m) * inv * w[i] + b[i];
}

void group_norm(float* x, const float* w, const float* b, int n, int groups, float eps) {
    const int g = n / groups;
    for (int h = 0; h < groups; ++h) {
        layer_norm(x + h * g, w + h * g, b + h * g, x + h * g, g, eps);
    }
}

void shift_rows(const float* prev, const float* x, int T, int n, float* out) {
    if (T <= 0) return;
    std::memcpy(out, prev, sizeof(float) * n);
    if (T > 1) std::memcpy(out + n, x, sizeof(float) * static_cast<std::size_t>(T - 1) * n);
}

void norm_and_shift(const float* x, const float* ln_w, const float* ln_b, float* prev, int T, int n,
                    float* xx, float* sx) {
    for (int t = 0; t < T; ++t) {
        const std::size_t o = static_cast<std::size_t>(t) * n;
        layer_norm(x + o, ln_w, ln_b, xx + o, n);
    }
    shift_rows(prev, xx, T, n, sx);
    std::memcpy(prev, xx + static_cast<std::size_t>(T - 1) * n, sizeof(float) * n);
}

}  // namespace ravel::detail
