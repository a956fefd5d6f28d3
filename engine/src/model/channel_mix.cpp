// Channel mixing (the FFN) of every version.
#include <algorithm>
#include <cstring>

#include "model/forward.hpp"
#include "model/ops.hpp"

namespace ravel::detail {

void channel_mix(const LayerPass& p, float* x) {
    const int C = p.cfg.n_embd;
    const int F = p.cfg.dim_ffn;
    const int T = p.T;
    const std::size_t TC = static_cast<std::size_t>(T) * C;
    const LayerWeights& w = p.w;
    float* xx = p.ws.xx.data();
    float* sx = p.ws.sx.data();
    float* kx = p.ws.t0.data();
    float* rx = p.ws.t1.data();

    norm_and_shift(x, w.ln2_w.data(), w.ln2_b.data(), p.s.ffn_x_prev, T, C, xx, sx);

    const bool lerp = p.cfg.arch == Arch::V6 || p.cfg.arch == Arch::V7;
    for (std::size_t row = 0; row < TC; row += static_cast<std::size_t>(C)) {
        for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
            const std::size_t i = row + c;
            if (lerp) {  // x + (prev - x) * maa
                const float d = sx[i] - xx[i];
                kx[i] = xx[i] + d * w.ffn_mix_k[c];
                if (!w.ffn_mix_r.empty()) rx[i] = xx[i] + d * w.ffn_mix_r[c];
            } else {  // x * mix + prev * (1 - mix)
                kx[i] = xx[i] * w.ffn_mix_k[c] + sx[i] * (1.0f - w.ffn_mix_k[c]);
                rx[i] = xx[i] * w.ffn_mix_r[c] + sx[i] * (1.0f - w.ffn_mix_r[c]);
            }
        }
    }

    float* k = p.ws.ffn.data();
    matmul(w.ffn_k, kx, T, k, p.ws.pool);
    const std::size_t TF = static_cast<std::size_t>(T) * F;
    for (std::size_t i = 0; i < TF; ++i) {
        const float r = std::max(k[i], 0.0f);
        k[i] = r * r;
    }
    float* kv = p.ws.y.data();
    matmul(w.ffn_v, k, T, kv, p.ws.pool);
    if (p.cfg.arch == Arch::V7) {
        for (std::size_t i = 0; i < TC; ++i) x[i] += kv[i];
        return;
    }
    float* r = p.ws.r.data();
    matmul(w.ffn_r, rx, T, r, p.ws.pool);
    for (std::size_t i = 0; i < TC; ++i) x[i] += sigmoid(r[i]) * kv[i];
}

}  // namespace ravel::detail
