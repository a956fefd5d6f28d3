// RWKV-5.2 ("Eagle") and RWKV-6 ("Finch") time mixing. They share the matrix-valued WKV,
// GroupNorm and gate; v6 adds data-dependent token shift and per-token decay through LoRAs.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/cpu/thread_pool.hpp"
#include "model/forward.hpp"
#include "model/ops.hpp"

namespace ravel::detail {

namespace {

// xw, xk, xv, xr, xg for v6: x + (prev - x) * (maa_? + lora_?(x + (prev - x) * maa_x)).
void v6_mix(const LayerPass& p, const float* xx, const float* sx, float* const outs[5]) {
    const int C = p.cfg.n_embd;
    const int D = p.cfg.lora_mix;
    const int T = p.T;
    const std::size_t TC = static_cast<std::size_t>(T) * C;
    const LayerWeights& w = p.w;
    float* xxx = p.ws.t5.data();
    for (std::size_t row = 0; row < TC; row += static_cast<std::size_t>(C)) {
        for (int c = 0; c < C; ++c) {
            xxx[row + c] = xx[row + c] + (sx[row + c] - xx[row + c]) * w.maa_x[c];
        }
    }
    float* m = p.ws.lora_out.data();  // T x 5D
    matmul(w.maa_w1, xxx, T, m, p.ws.pool);
    for (std::size_t i = 0; i < static_cast<std::size_t>(T) * 5 * D; ++i) m[i] = std::tanh(m[i]);

    const std::vector<float>* maa[5] = {&w.maa_w, &w.maa_k, &w.maa_v, &w.maa_r, &w.maa_g};
    float* slice = p.ws.lora_in.data();  // T x D
    float* offset = p.ws.y.data();       // T x C
    for (int i = 0; i < 5; ++i) {
        for (int t = 0; t < T; ++t) {
            std::memcpy(slice + static_cast<std::size_t>(t) * D,
                        m + static_cast<std::size_t>(t) * 5 * D + static_cast<std::size_t>(i) * D,
                        sizeof(float) * D);
        }
        matmul(w.maa_w2[i], slice, T, offset, p.ws.pool);
        for (std::size_t row = 0; row < TC; row += static_cast<std::size_t>(C)) {
            for (int c = 0; c < C; ++c) {
                const std::size_t j = row + c;
                outs[i][j] = xx[j] + (sx[j] - xx[j]) * ((*maa[i])[c] + offset[j]);
            }
        }
    }
}

}  // namespace

void time_mix_v5(const LayerPass& p, float* x) {
    const int C = p.cfg.n_embd;
    const int H = p.cfg.n_head;
    const int N = p.cfg.head_size;
    const int T = p.T;
    const std::size_t TC = static_cast<std::size_t>(T) * C;
    const bool v6 = p.cfg.arch == Arch::V6;
    const LayerWeights& w = p.w;
    float* xx = p.ws.xx.data();
    float* sx = p.ws.sx.data();
    float* xw = p.ws.t0.data();
    float* xk = p.ws.t1.data();
    float* xv = p.ws.t2.data();
    float* xr = p.ws.t3.data();
    float* xg = p.ws.t4.data();

    norm_and_shift(x, w.ln1_w.data(), w.ln1_b.data(), p.s.att_x_prev, T, C, xx, sx);

    float* decay = p.ws.w.data();
    if (v6) {
        float* const outs[5] = {xw, xk, xv, xr, xg};
        v6_mix(p, xx, sx, outs);
        // Per-token decay: exp(-exp(time_decay + tanh(xw W1) W2)).
        float* hidden = p.ws.lora_in.data();
        matmul(w.decay_w1, xw, T, hidden, p.ws.pool);
        for (std::size_t i = 0; i < static_cast<std::size_t>(T) * p.cfg.lora_decay; ++i) {
            hidden[i] = std::tanh(hidden[i]);
        }
        matmul(w.decay_w2, hidden, T, decay, p.ws.pool);
        for (std::size_t row = 0; row < TC; row += static_cast<std::size_t>(C)) {
            for (int c = 0; c < C; ++c)
                decay[row + c] = std::exp(-std::exp(w.decay[c] + decay[row + c]));
        }
    } else {
        for (std::size_t row = 0; row < TC; row += static_cast<std::size_t>(C)) {
            for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
                const std::size_t i = row + c;
                xk[i] = xx[i] * w.mix_k[c] + sx[i] * (1.0f - w.mix_k[c]);
                xv[i] = xx[i] * w.mix_v[c] + sx[i] * (1.0f - w.mix_v[c]);
                xr[i] = xx[i] * w.mix_r[c] + sx[i] * (1.0f - w.mix_r[c]);
                xg[i] = xx[i] * w.mix_g[c] + sx[i] * (1.0f - w.mix_g[c]);
                decay[i] = w.decay[c];  // already exp(-exp(time_decay)) from load
            }
        }
    }

    float* r = p.ws.r.data();
    float* k = p.ws.k.data();
    float* v = p.ws.v.data();
    float* g = p.ws.g.data();
    matmul(w.att_r, xr, T, r, p.ws.pool);
    matmul(w.att_k, xk, T, k, p.ws.pool);
    matmul(w.att_v, xv, T, v, p.ws.pool);
    matmul(w.att_g, xg, T, g, p.ws.pool);
    for (std::size_t i = 0; i < TC; ++i) g[i] = silu(g[i]);

    // S[h] is N x N indexed [key i, value j]:
    //   y_j = sum_i r_i (u_i k_i v_j + S_ij);  S_ij = k_i v_j + w_i S_ij
    // Heads are independent, so they run in parallel, each over all T tokens.
    float* y = p.ws.y.data();
    auto heads = [&](int /*thread*/, std::int64_t h0, std::int64_t h1) {
        for (std::int64_t h = h0; h < h1; ++h) {
            float* S = p.s.att + static_cast<std::size_t>(h) * N * N;
            const float* u = w.bonus.data() + static_cast<std::size_t>(h) * N;
            for (int t = 0; t < T; ++t) {
                const std::size_t ho =
                    static_cast<std::size_t>(t) * C + static_cast<std::size_t>(h) * N;
                float* yh = y + ho;
                const float* vh = v + ho;
                std::fill(yh, yh + N, 0.0f);
                for (int i = 0; i < N; ++i) {
                    const float ki = k[ho + i];
                    const float ri = r[ho + i];
                    const float rui = ri * u[i] * ki;
                    const float wi = decay[ho + i];
                    float* Si = S + static_cast<std::size_t>(i) * N;
                    for (int j = 0; j < N; ++j) {
                        yh[j] += rui * vh[j] + ri * Si[j];
                        Si[j] = ki * vh[j] + wi * Si[j];
                    }
                }
            }
        }
    };
    if (p.ws.pool != nullptr) {
        p.ws.pool->parallel_for(H, 1, heads);
    } else {
        heads(0, 0, H);
    }
    for (int t = 0; t < T; ++t) {
        float* yt = y + static_cast<std::size_t>(t) * C;
        group_norm(yt, w.ln_x_w.data(), w.ln_x_b.data(), C, H, kGroupNormEps);
    }
    for (std::size_t i = 0; i < TC; ++i) y[i] *= g[i];
    float* out = p.ws.t5.data();
    matmul(w.att_o, y, T, out, p.ws.pool);
    for (std::size_t i = 0; i < TC; ++i) x[i] += out[i];
}

}  // namespace ravel::detail
