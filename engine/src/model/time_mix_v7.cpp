// RWKV-7 ("Goose") time mixing: a generalised delta rule on an H x N x N state with
// in-context learning rate `a`, LoRA-driven decay and gate, and the value residual to layer 0.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/forward.hpp"
#include "model/ops.hpp"

namespace ravel::detail {

namespace {

constexpr float kDecayScale = 0.606531f;  // exp(-0.5): w = exp(-e^-0.5 * sigmoid(.))
constexpr float kNormalizeEps = 1e-12f;   // F.normalize's default eps

// out = f(x W1) W2 over T rows, with W1, W2 already transposed to (D, C) and (C, D).
template <class Activation>
void lora(const Matrix& w1, const Matrix& w2, const float* x, int T, float* hidden, float* out,
          Activation act, ThreadPool* pool) {
    matmul(w1, x, T, hidden, pool);
    const std::size_t n = static_cast<std::size_t>(T) * w1.rows;
    for (std::size_t i = 0; i < n; ++i) hidden[i] = act(hidden[i]);
    matmul(w2, hidden, T, out, pool);
}

}  // namespace

void time_mix_v7(const LayerPass& p, float* x) {
    const int C = p.cfg.n_embd;
    const int H = p.cfg.n_head;
    const int N = p.cfg.head_size;
    const int T = p.T;
    const std::size_t TC = static_cast<std::size_t>(T) * C;
    const LayerWeights& w = p.w;
    Workspace& ws = p.ws;
    float* xx = ws.xx.data();
    float* sx = ws.sx.data();

    norm_and_shift(x, w.ln1_w.data(), w.ln1_b.data(), p.s.att_x_prev, T, C, xx, sx);

    float* xr = ws.t0.data();
    float* xw = ws.t1.data();
    float* xk = ws.t2.data();
    float* xv = ws.t3.data();
    float* xa = ws.t4.data();
    float* xg = ws.t5.data();
    for (std::size_t row = 0; row < TC; row += static_cast<std::size_t>(C)) {
        for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
            const std::size_t i = row + c;
            const float d = sx[i] - xx[i];
            xr[i] = xx[i] + d * w.x_r[c];
            xw[i] = xx[i] + d * w.x_w[c];
            xk[i] = xx[i] + d * w.x_k[c];
            xv[i] = xx[i] + d * w.x_v[c];
            xa[i] = xx[i] + d * w.x_a[c];
            xg[i] = xx[i] + d * w.x_g[c];
        }
    }

    float* r = ws.r.data();
    float* k = ws.k.data();
    float* v = ws.v.data();
    matmul(w.att_r, xr, T, r, ws.pool);
    matmul(w.att_k, xk, T, k, ws.pool);
    matmul(w.att_v, xv, T, v, ws.pool);

    float* hidden = ws.lora_in.data();
    float* decay = ws.w.data();
    lora(
        w.w1, w.w2, xw, T, hidden, decay, [](float z) { return std::tanh(z); }, ws.pool);
    float* a = ws.a.data();
    lora(
        w.a1, w.a2, xa, T, hidden, a, [](float z) { return z; }, ws.pool);
    float* g = ws.g.data();
    lora(
        w.g1, w.g2, xg, T, hidden, g, [](float z) { return sigmoid(z); }, ws.pool);
    float* vres = ws.lora_out.data();  // reused below only when the layer has a value residual
    if (w.has_value_residual) {
        vres = xw;  // xw is no longer needed; T x C
        lora(
            w.v1, w.v2, xv, T, hidden, vres, [](float z) { return z; }, ws.pool);
    }

    float* kk = ws.kk.data();
    for (std::size_t row = 0; row < TC; row += static_cast<std::size_t>(C)) {
        for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
            const std::size_t i = row + c;
            decay[i] = std::exp(-kDecayScale * sigmoid(w.w0[c] + decay[i]));
            a[i] = sigmoid(w.a0[c] + a[i]);
            kk[i] = k[i] * w.k_k[c];
            k[i] = k[i] * (1.0f + (a[i] - 1.0f) * w.k_a[c]);
            if (w.has_value_residual) {
                v[i] = v[i] + (ws.v_first[i] - v[i]) * sigmoid(w.v0[c] + vres[i]);
            }
        }
    }
    if (p.layer == 0) std::memcpy(ws.v_first.data(), v, sizeof(float) * TC);
    for (std::size_t row = 0; row < static_cast<std::size_t>(T) * H; ++row) {
        float* kh = kk + row * N;
        double ss = 0;
        for (int i = 0; i < N; ++i) ss += static_cast<double>(kh[i]) * kh[i];
        const float inv = 1.0f / std::max(static_cast<float>(std::sqrt(ss)), kNormalizeEps);
        for (int i = 0; i < N; ++i) kh[i] *= inv;
    }

    // S[h] is N x N indexed [value i, key j]:
    //   S = S diag(w) + (S (-kk)) (kk a)^T + v k^T;  y = S r
    // Heads are independent, so they run in parallel, each over all T tokens.
    float* y = ws.y.data();
    // kk * a for every token at once, in a buffer whose input (xk) is no longer needed: no
    // allocation inside the per-token path.
    float* kka = ws.t2.data();
    for (std::size_t i = 0; i < TC; ++i) kka[i] = kk[i] * a[i];
    const auto wkv7 = cpu::kernels().wkv7_head;
    auto heads = [&](int /*thread*/, std::int64_t h0, std::int64_t h1) {
        for (std::int64_t h = h0; h < h1; ++h) {
            float* S = p.s.att + static_cast<std::size_t>(h) * N * N;
            for (int t = 0; t < T; ++t) {
                const std::size_t ho =
                    static_cast<std::size_t>(t) * C + static_cast<std::size_t>(h) * N;
                const float* wh = decay + ho;
                const float* kh = k + ho;
                const float* vh = v + ho;
                const float* rh = r + ho;
                const float* kkh = kk + ho;
                wkv7(S, N, wh, kkh, kka + ho, kh, vh, rh, y + ho);
            }
        }
    };
    if (ws.pool != nullptr) {
        ws.pool->parallel_for(H, 1, heads);
    } else {
        heads(0, 0, H);
    }

    for (int t = 0; t < T; ++t) {
        const std::size_t o = static_cast<std::size_t>(t) * C;
        group_norm(y + o, w.ln_x_w.data(), w.ln_x_b.data(), C, H, kGroupNormEps);
        for (int h = 0; h < H; ++h) {
            const std::size_t ho = o + static_cast<std::size_t>(h) * N;
            float bonus = 0;
            for (int i = 0; i < N; ++i) {
                bonus += r[ho + i] * k[ho + i] * w.r_k[static_cast<std::size_t>(h) * N + i];
            }
            for (int i = 0; i < N; ++i) y[ho + i] += bonus * v[ho + i];
        }
    }
    for (std::size_t i = 0; i < TC; ++i) y[i] *= g[i];
    float* out = ws.t0.data();
    matmul(w.att_o, y, T, out, ws.pool);
    for (std::size_t i = 0; i < TC; ++i) x[i] += out[i];
}

}  // namespace ravel::detail
