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

using cpu::KernelTable;

// out = f(x W1) W2 over T rows, with W1, W2 already transposed to (D, C) and (C, D); `act` is
// a KernelTable activation, or -1 for none.
void lora(const Matrix& w1, const Matrix& w2, const float* x, int T, float* hidden, float* out,
          int act, ThreadPool* pool) {
    matmul(w1, x, T, hidden, pool);
    if (act >= 0) {
        const auto activate = cpu::kernels().activate;
        const int D = w1.rows;
        parallel_rows(pool, T, static_cast<std::size_t>(D) * 8, [&](int t0, int t1) {
            activate(act, hidden + static_cast<std::size_t>(t0) * D, nullptr, (t1 - t0) * D);
        });
    }
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
    const KernelTable& kt = cpu::kernels();
    float* sx = ws.shifted.data();  // token-shifted rows
    float* xx = sx + C;             // normed rows

    norm_and_shift(x, w.ln1_w.data(), w.ln1_b.data(), p.s.att_x_prev, T, C, sx, ws.pool);

    float* xr = ws.t0.data();
    float* xw = ws.t1.data();
    float* xk = ws.t2.data();
    float* xv = ws.t3.data();
    float* xa = ws.t4.data();
    float* xg = ws.t5.data();
    parallel_rows(ws.pool, T, 6 * static_cast<std::size_t>(C), [&](int t0, int t1) {
        for (int t = t0; t < t1; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * C;
            kt.lerp(xx + o, sx + o, w.x_r.data(), xr + o, C);
            kt.lerp(xx + o, sx + o, w.x_w.data(), xw + o, C);
            kt.lerp(xx + o, sx + o, w.x_k.data(), xk + o, C);
            kt.lerp(xx + o, sx + o, w.x_v.data(), xv + o, C);
            kt.lerp(xx + o, sx + o, w.x_a.data(), xa + o, C);
            kt.lerp(xx + o, sx + o, w.x_g.data(), xg + o, C);
        }
    });

    float* r = ws.r.data();
    float* k = ws.k.data();
    float* v = ws.v.data();
    matmul(w.att_r, xr, T, r, ws.pool);
    matmul(w.att_k, xk, T, k, ws.pool);
    matmul(w.att_v, xv, T, v, ws.pool);

    float* hidden = ws.lora_in.data();
    float* decay = ws.w.data();
    lora(w.w1, w.w2, xw, T, hidden, decay, KernelTable::kTanh, ws.pool);
    float* a = ws.a.data();
    lora(w.a1, w.a2, xa, T, hidden, a, -1, ws.pool);
    float* g = ws.g.data();
    lora(w.g1, w.g2, xg, T, hidden, g, KernelTable::kSigmoid, ws.pool);
    float* vres = ws.lora_out.data();  // reused below only when the layer has a value residual
    if (w.has_value_residual) {
        vres = xw;  // xw is no longer needed; T x C
        lora(w.v1, w.v2, xv, T, hidden, vres, -1, ws.pool);
    }

    // Per token: the decay w = exp(-e^-0.5 sigmoid(w0 + .)), the in-context learning rate
    // a = sigmoid(a0 + .), the value residual v += (v_first - v) sigmoid(v0 + .), and the keys
    // kk (normalised per head), kk * a (into xk's buffer, no longer needed) and k.
    float* kk = ws.kk.data();
    float* kka = ws.t2.data();
    parallel_rows(ws.pool, T, 8 * static_cast<std::size_t>(C), [&](int t0, int t1) {
        for (int t = t0; t < t1; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * C;
            kt.activate(KernelTable::kV7Decay, decay + o, w.w0.data(), C);
            kt.activate(KernelTable::kSigmoid, a + o, w.a0.data(), C);
            if (w.has_value_residual) {
                kt.activate(KernelTable::kSigmoid, vres + o, w.v0.data(), C);
                kt.lerp(v + o, ws.v_first.data() + o, vres + o, v + o, C);
            }
            kt.v7_keys(k + o, kk + o, kka + o, a + o, w.k_k.data(), w.k_a.data(), H, N);
        }
    });
    if (p.layer == 0) std::memcpy(ws.v_first.data(), v, sizeof(float) * TC);

    // S[h] is N x N indexed [value i, key j]:
    //   S = S diag(w) + (S (-kk)) (kk a)^T + v k^T;  y = S r
    // Heads are independent, so they run in parallel, each over all T tokens.
    float* y = ws.y.data();
    auto heads = [&](int /*thread*/, std::int64_t h0, std::int64_t h1) {
        for (std::int64_t h = h0; h < h1; ++h) {
            float* S = p.s.att + static_cast<std::size_t>(h) * N * N;
            const std::size_t ho = static_cast<std::size_t>(h) * N;
            kt.wkv7_seq(S, N, T, static_cast<std::size_t>(C), decay + ho, kk + ho, kka + ho, k + ho,
                        v + ho, r + ho, y + ho);
        }
    };
    if (ws.pool != nullptr) {
        ws.pool->parallel_for_dynamic(H, 1, heads);
    } else {
        heads(0, 0, H);
    }

    parallel_rows(ws.pool, T, 4 * static_cast<std::size_t>(C), [&](int t0, int t1) {
        for (int t = t0; t < t1; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * C;
            kt.v7_output(y + o, r + o, k + o, v + o, g + o, w.r_k.data(), w.ln_x_w.data(),
                         w.ln_x_b.data(), H, N, kGroupNormEps);
        }
    });
    float* out = ws.t0.data();
    matmul(w.att_o, y, T, out, ws.pool);
    add_rows(x, out, T, C, ws.pool);
}

}  // namespace ravel::detail
