// RWKV-4 time mixing with ChatRWKV's max-shifted WKV: aa and bb are the numerator and
// denominator scaled by e^-pp, so nothing overflows however long the context grows.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/forward.hpp"
#include "model/ops.hpp"

namespace ravel::detail {

void time_mix_v4(const LayerPass& p, float* x) {
    const int C = p.cfg.n_embd;
    const int T = p.T;
    const std::size_t TC = static_cast<std::size_t>(T) * C;
    const LayerWeights& w = p.w;
    float* xx = p.ws.xx.data();
    float* sx = p.ws.sx.data();
    float* kx = p.ws.t0.data();
    float* vx = p.ws.t1.data();
    float* rx = p.ws.t2.data();

    norm_and_shift(x, w.ln1_w.data(), w.ln1_b.data(), p.s.att_x_prev, T, C, xx, sx);

    for (std::size_t row = 0; row < TC; row += static_cast<std::size_t>(C)) {
        for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
            const std::size_t i = row + c;
            kx[i] = xx[i] * w.mix_k[c] + sx[i] * (1.0f - w.mix_k[c]);
            vx[i] = xx[i] * w.mix_v[c] + sx[i] * (1.0f - w.mix_v[c]);
            rx[i] = xx[i] * w.mix_r[c] + sx[i] * (1.0f - w.mix_r[c]);
        }
    }
    float* k = p.ws.k.data();
    float* v = p.ws.v.data();
    float* r = p.ws.r.data();
    matmul(w.att_k, kx, T, k, p.ws.pool);
    matmul(w.att_v, vx, T, v, p.ws.pool);
    matmul(w.att_r, rx, T, r, p.ws.pool);

    float* aa = p.s.att;
    float* bb = p.s.att + C;
    float* pp = p.s.att + 2 * C;
    float* y = p.ws.y.data();
    for (int t = 0; t < T; ++t) {
        const std::size_t o = static_cast<std::size_t>(t) * C;
        for (int c = 0; c < C; ++c) {
            const float kt = k[o + c];
            const float vt = v[o + c];
            float ww = w.bonus[c] + kt;
            float q = std::max(pp[c], ww);
            float e1 = std::exp(pp[c] - q);
            float e2 = std::exp(ww - q);
            y[o + c] = sigmoid(r[o + c]) * (e1 * aa[c] + e2 * vt) / (e1 * bb[c] + e2);
            ww = w.decay[c] + pp[c];
            q = std::max(ww, kt);
            e1 = std::exp(ww - q);
            e2 = std::exp(kt - q);
            aa[c] = e1 * aa[c] + e2 * vt;
            bb[c] = e1 * bb[c] + e2;
            pp[c] = q;
        }
    }
    float* out = p.ws.t3.data();
    matmul(w.att_o, y, T, out, p.ws.pool);
    for (std::size_t i = 0; i < TC; ++i) x[i] += out[i];
}

}  // namespace ravel::detail
