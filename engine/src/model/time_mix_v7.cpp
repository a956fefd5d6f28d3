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

// One LoRA: out = f(x W1) W2 over T rows, with W1, W2 already transposed to (D, C) and (C, D);
// `act` is a KernelTable activation, or -1 for none.
struct Lora {
    const Matrix* w1;
    const Matrix* w2;
    const float* x;
    float* out;
    int act;
};

// The layer's LoRAs are small products (D of 32..160 rows against C, and back) whose row split
// over the threads leaves one thread idle for much of each; they are independent, so whole
// LoRAs go to the threads instead, largest first, each product on one thread. Two regions
// (down then up) instead of two per product. `hidden` holds T x (sum of D) floats.
void run_loras(Lora* loras, int n, int T, float* hidden, ThreadPool* pool) {
    std::sort(loras, loras + n,
              [](const Lora& x, const Lora& y) { return x.w1->rows > y.w1->rows; });
    float* h[4];
    std::size_t offset = 0;
    for (int i = 0; i < n; ++i) {
        h[i] = hidden + offset;
        offset += static_cast<std::size_t>(T) * loras[i].w1->rows;
    }
    const auto activate = cpu::kernels().activate;
    auto down = [&](int /*thread*/, std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) {
            const Lora& l = loras[i];
            matmul(*l.w1, l.x, T, h[i], nullptr);
            if (l.act >= 0) activate(l.act, h[i], nullptr, T * l.w1->rows);
        }
    };
    auto up = [&](int /*thread*/, std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) matmul(*loras[i].w2, h[i], T, loras[i].out, nullptr);
    };
    if (pool != nullptr && pool->size() > 1) {
        pool->parallel_for_dynamic(n, 1, down);
        pool->parallel_for_dynamic(n, 1, up);
    } else {
        down(0, 0, n);
        up(0, 0, n);
    }
}

}  // namespace

void time_mix_v7(const LayerPass& p, float* x) {
    const int C = p.cfg.n_embd;
    const int H = p.cfg.n_head;
    const int N = p.cfg.head_size;
    const int T = p.T;
    const LayerWeights& w = p.w;
    Workspace& ws = p.ws;
    const KernelTable& kt = cpu::kernels();
    float* sx = ws.shifted.data();  // token-shifted rows
    float* xx = sx + C;             // normed rows

    float* xr = ws.t0.data();
    float* xw = ws.t1.data();
    float* xk = ws.t2.data();
    float* xv = ws.t3.data();
    float* xa = ws.t4.data();
    float* xg = ws.t5.data();
    const ShiftMix mixes[6] = {{w.x_r.data(), xr}, {w.x_w.data(), xw}, {w.x_k.data(), xk},
                               {w.x_v.data(), xv}, {w.x_a.data(), xa}, {w.x_g.data(), xg}};
    norm_and_shift(x, w.ln1_w.data(), w.ln1_b.data(), p.s.att_x_prev, T, C, sx, ws.pool, mixes);
    shift_mix(xx, sx, T, C, mixes, MixRule::Lerp, ws.pool);
    prefetch_channel_mix_inputs(p);

    float* r = ws.r.data();
    float* k = ws.k.data();
    float* v = ws.v.data();
    float* decay = ws.w.data();
    float* a = ws.a.data();
    float* g = ws.g.data();
    // The value residual's LoRA output and kk * a take the buffers of xr and xk, whose last
    // readers, the projections, have run by then.
    float* vres = xr;
    float* kka = xk;
    Lora loras[4] = {{&w.w1, &w.w2, xw, decay, KernelTable::kTanh},
                     {&w.a1, &w.a2, xa, a, -1},
                     {&w.g1, &w.g2, xg, g, KernelTable::kSigmoid}};
    int n_loras = 3;
    if (w.has_value_residual) loras[n_loras++] = {&w.v1, &w.v2, xv, vres, -1};

    if (T <= cpu::kSmallBatch) {
        // Decoding: the projections and the LoRAs' first halves read this layer's mixes, so
        // they share a region, and the LoRAs' second halves share the next.
        Product first[7] = {{&w.att_r, xr, r}, {&w.att_k, xk, k}, {&w.att_v, xv, v}};
        Product second[4];
        int n_first = 3;
        float* hidden = ws.lora_in.data();
        for (int i = 0; i < n_loras; ++i) {
            first[n_first++] = {loras[i].w1, loras[i].x, hidden, loras[i].act};
            second[i] = {loras[i].w2, hidden, loras[i].out};
            hidden += static_cast<std::size_t>(T) * loras[i].w1->rows;
        }
        matmul_group({first, static_cast<std::size_t>(n_first)}, T, ws.pool);
        matmul_group({second, static_cast<std::size_t>(n_loras)}, T, ws.pool);
    } else {
        matmul(w.att_r, xr, T, r, ws.pool);
        matmul(w.att_k, xk, T, k, ws.pool);
        matmul(w.att_v, xv, T, v, ws.pool);
        run_loras(loras, n_loras, T, ws.lora_in.data(), ws.pool);
    }

    // Everything from here to the output projection is per head: per token the decay
    // w = exp(-e^-0.5 sigmoid(w0 + .)), the in-context learning rate a = sigmoid(a0 + .), the
    // value residual v += (v_first - v) sigmoid(v0 + .),
    // the keys kk (normalised per head), kk * a and k; then the state update over all T tokens
    //   S = S diag(w) + (S (-kk)) (kk a)^T + v k^T;  y = S r   (S[h] is N x N, [value i, key j])
    // and the output's group norm, bonus and gate. So heads run in parallel through all of it:
    // decoding has one parallel region between the LoRAs and the output projection, and no
    // element-wise work left for one thread while the others wait.
    float* kk = ws.kk.data();
    float* y = ws.y.data();
    auto heads = [&](int /*thread*/, std::int64_t h0, std::int64_t h1) {
        for (std::int64_t h = h0; h < h1; ++h) {
            const std::size_t ho = static_cast<std::size_t>(h) * N;
            for (int t = 0; t < T; ++t) {
                const std::size_t o = static_cast<std::size_t>(t) * C + ho;
                kt.activate(KernelTable::kV7Decay, decay + o, w.w0.data() + ho, N);
                kt.activate(KernelTable::kSigmoid, a + o, w.a0.data() + ho, N);
                if (w.has_value_residual) {
                    kt.activate(KernelTable::kSigmoid, vres + o, w.v0.data() + ho, N);
                    kt.lerp(v + o, ws.v_first.data() + o, vres + o, v + o, N);
                }
                if (p.layer == 0) {
                    std::memcpy(ws.v_first.data() + o, v + o, sizeof(float) * N);
                }
                kt.v7_keys(k + o, kk + o, kka + o, a + o, w.k_k.data() + ho, w.k_a.data() + ho, 1,
                           N);
            }
            float* S = p.s.att + static_cast<std::size_t>(h) * N * N;
            kt.wkv7_seq(S, N, T, static_cast<std::size_t>(C), decay + ho, kk + ho, kka + ho, k + ho,
                        v + ho, r + ho, y + ho);
            for (int t = 0; t < T; ++t) {
                const std::size_t o = static_cast<std::size_t>(t) * C + ho;
                kt.v7_output(y + o, r + o, k + o, v + o, g + o, w.r_k.data() + ho,
                             w.ln_x_w.data() + ho, w.ln_x_b.data() + ho, 1, N, kGroupNormEps);
            }
        }
    };
    if (ws.pool != nullptr) {
        ws.pool->parallel_for_dynamic(H, 1, heads);
    } else {
        heads(0, 0, H);
    }

    float* out = ws.t0.data();
    matmul(w.att_o, y, T, out, ws.pool);
    add_rows(x, out, T, C, ws.pool);
}

}  // namespace ravel::detail
