// RWKV-5.2 ("Eagle") and RWKV-6 ("Finch") time mixing. They share the matrix-valued WKV,
// GroupNorm and gate; v6 adds data-dependent token shift and per-token decay through LoRAs.
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

// xw, xk, xv, xr, xg for v6: x + (prev - x) * (maa_? + lora_?(x + (prev - x) * maa_x)).
// The five LoRAs' second halves are independent products, so they share one parallel region
// (decoding: one hand-off instead of five).
void v6_mix(const LayerPass& p, const float* xx, const float* sx, float* const outs[5]) {
    const int C = p.cfg.n_embd;
    const int D = p.cfg.lora_mix;
    const int T = p.T;
    const LayerWeights& w = p.w;
    const KernelTable& kt = cpu::kernels();
    ThreadPool* pool = p.ws.pool;
    float* xxx = p.ws.t5.data();
    const ShiftMix maa_x[1] = {{w.maa_x.data(), xxx}};
    shift_mix(xx, sx, T, C, maa_x, MixRule::Lerp, pool);
    float* m = p.ws.lora_out.data();  // T x 5D: tanh(xxx W1)
    const Product first[1] = {{&w.maa_w1, xxx, m, KernelTable::kTanh}};
    matmul_group(first, T, pool);

    // LoRA i reads columns [i D, (i + 1) D) of every token's row of m: one token's are
    // contiguous already; for more tokens they are gathered, LoRA by LoRA, into lora_in.
    const float* inputs[5];
    for (int i = 0; i < 5; ++i) {
        if (T == 1) {
            inputs[i] = m + static_cast<std::size_t>(i) * D;
            continue;
        }
        float* gathered = p.ws.lora_in.data() + static_cast<std::size_t>(i) * T * D;
        for (int t = 0; t < T; ++t) {
            std::memcpy(gathered + static_cast<std::size_t>(t) * D,
                        m + static_cast<std::size_t>(t) * 5 * D + static_cast<std::size_t>(i) * D,
                        sizeof(float) * D);
        }
        inputs[i] = gathered;
    }
    Product seconds[5];
    for (int i = 0; i < 5; ++i) seconds[i] = {&w.maa_w2[i], inputs[i], outs[i]};
    matmul_group(seconds, T, pool);

    const std::vector<float>* maa[5] = {&w.maa_w, &w.maa_k, &w.maa_v, &w.maa_r, &w.maa_g};
    parallel_rows(pool, T, 5 * 2 * static_cast<std::size_t>(C), [&](int t0, int t1) {
        for (int t = t0; t < t1; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * C;
            for (int i = 0; i < 5; ++i) {
                kt.add(outs[i] + o, maa[i]->data(), C);  // maa_? + lora_?
                // The mix is read before the output is written, element by element.
                kt.lerp(xx + o, sx + o, outs[i] + o, outs[i] + o, C);
            }
        }
    });
}

}  // namespace

void time_mix_v5(const LayerPass& p, float* x) {
    const int C = p.cfg.n_embd;
    const int H = p.cfg.n_head;
    const int N = p.cfg.head_size;
    const int T = p.T;
    const bool v6 = p.cfg.arch == Arch::V6;
    const LayerWeights& w = p.w;
    const KernelTable& kt = cpu::kernels();
    ThreadPool* pool = p.ws.pool;
    float* sx = p.ws.shifted.data();  // token-shifted rows
    float* xx = sx + C;               // normed rows
    float* xw = p.ws.t0.data();
    float* xk = p.ws.t1.data();
    float* xv = p.ws.t2.data();
    float* xr = p.ws.t3.data();
    float* xg = p.ws.t4.data();

    // The mixes follow in v6_mix or below; the norm's own vectors are still asked for first.
    norm_and_shift(x, w.ln1_w.data(), w.ln1_b.data(), p.s.att_x_prev, T, C, sx, pool, {});
    prefetch_channel_mix_inputs(p);

    float* decay = p.ws.w.data();
    if (v6) {
        float* const outs[5] = {xw, xk, xv, xr, xg};
        v6_mix(p, xx, sx, outs);
    } else {
        const ShiftMix mixes[4] = {
            {w.mix_k.data(), xk}, {w.mix_v.data(), xv}, {w.mix_r.data(), xr}, {w.mix_g.data(), xg}};
        shift_mix(xx, sx, T, C, mixes, MixRule::Blend, pool);
        for (int t = 0; t < T; ++t) {  // already exp(-exp(time_decay)) from load
            std::memcpy(decay + static_cast<std::size_t>(t) * C, w.decay.data(), sizeof(float) * C);
        }
    }

    float* r = p.ws.r.data();
    float* k = p.ws.k.data();
    float* v = p.ws.v.data();
    float* g = p.ws.g.data();
    // v6's per-token decay, exp(-exp(time_decay + tanh(xw W1) W2)), starts with the projections:
    // its first product reads a mix as they do, so they share a region.
    float* hidden = p.ws.lora_in.data();
    const Product projections[5] = {{&w.att_r, xr, r},
                                    {&w.att_k, xk, k},
                                    {&w.att_v, xv, v},
                                    {&w.att_g, xg, g, KernelTable::kSilu},
                                    {&w.decay_w1, xw, hidden, KernelTable::kTanh}};
    matmul_group({projections, v6 ? 5u : 4u}, T, pool);
    if (v6) matmul(w.decay_w2, hidden, T, decay, pool);

    // S[h] is N x N indexed [key i, value j]:
    //   y_j = sum_i r_i (u_i k_i v_j + S_ij);  S_ij = k_i v_j + w_i S_ij
    // Heads are independent, so they run in parallel, each over all T tokens, with what else
    // is per head: v6's decay activation before the state update, the group norm and the gate
    // after it (a decoding thread would otherwise do them alone while the others wait).
    float* y = p.ws.y.data();
    auto heads = [&](int /*thread*/, std::int64_t h0, std::int64_t h1) {
        for (std::int64_t h = h0; h < h1; ++h) {
            const std::size_t hc = static_cast<std::size_t>(h) * N;
            for (int t = 0; t < T && v6; ++t) {
                const std::size_t ho = static_cast<std::size_t>(t) * C + hc;
                kt.activate(KernelTable::kExpNegExp, decay + ho, w.decay.data() + hc, N);
            }
            float* S = p.s.att + static_cast<std::size_t>(h) * N * N;
            const float* u = w.bonus.data() + hc;
            for (int t = 0; t < T; ++t) {
                const std::size_t ho = static_cast<std::size_t>(t) * C + hc;
                kt.wkv5_head(S, N, r + ho, k + ho, v + ho, decay + ho, u, y + ho);
                group_norm(y + ho, w.ln_x_w.data() + hc, w.ln_x_b.data() + hc, N, 1, kGroupNormEps);
                kt.mul(y + ho, g + ho, N);
            }
        }
    };
    if (pool != nullptr) {
        pool->parallel_for_dynamic(H, 1, heads);
    } else {
        heads(0, 0, H);
    }
    float* out = p.ws.t5.data();
    matmul(w.att_o, y, T, out, pool);
    add_rows(x, out, T, C, pool);
}

}  // namespace ravel::detail
