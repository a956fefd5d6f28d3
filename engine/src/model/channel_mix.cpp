// Channel mixing (the FFN) of every version.
#include <algorithm>
#include <cstring>

#include "model/cpu/kernels.hpp"
#include "model/forward.hpp"
#include "model/ops.hpp"

namespace ravel::detail {

void channel_mix(const LayerPass& p, float* x) {
    const int C = p.cfg.n_embd;
    const int T = p.T;
    const LayerWeights& w = p.w;
    const cpu::KernelTable& kt = cpu::kernels();
    ThreadPool* pool = p.ws.pool;
    float* sx = p.ws.shifted.data();  // token-shifted rows
    float* xx = sx + C;               // normed rows
    float* kx = p.ws.t0.data();
    float* rx = p.ws.t1.data();

    const ShiftMix mix_list[2] = {{w.ffn_mix_k.data(), kx}, {w.ffn_mix_r.data(), rx}};
    const std::span<const ShiftMix> mixes(mix_list, w.ffn_mix_r.empty() ? 1u : 2u);
    norm_and_shift(x, w.ln2_w.data(), w.ln2_b.data(), p.s.ffn_x_prev, T, C, sx, pool, mixes);

    const bool lerp = p.cfg.arch == Arch::V6 || p.cfg.arch == Arch::V7;
    shift_mix(xx, sx, T, C, mixes, lerp ? MixRule::Lerp : MixRule::Blend, pool);
    prefetch_next_time_mix_inputs(p);

    float* k = p.ws.ffn.data();
    float* r = p.ws.r.data();
    // The key (with its activation) and, before v7, the receptance read only the mixes: one
    // region when decoding.
    Product keys[2] = {{&w.ffn_k, kx, k, cpu::KernelTable::kRelu2}, {&w.ffn_r, rx, r}};
    // Decoding: the key's grains quantize their rows for the value product as they finish them,
    // so the value product's threads do not each read all the floats (half of them written by
    // the other threads) and quantize them again before their first grain (3072 values:
    // 1700-4200 TSC cycles per thread and layer; tokens 0.3-0.8% faster, see
    // docs/cpu-backend.md).
    cpu::QuantizedTokens kq;
    const bool handed_quantized = kt.gemv_quantized != nullptr && w.ffn_v.interleaved() &&
                                  p.ws.quantized_ffn_hidden(p.cfg, T, kq);
    if (handed_quantized) {
        keys[0].yq = &kq;
        keys[0].yq_type = w.ffn_v.type;
    }
    matmul_group({keys, p.cfg.arch == Arch::V7 ? 1u : 2u}, T, pool);
    float* kv = p.ws.y.data();
    if (handed_quantized) {
        const Product value{&w.ffn_v, k, kv, -1, &kq};
        matmul_group({&value, 1}, T, pool);
    } else {
        matmul(w.ffn_v, k, T, kv, pool);
    }
    if (p.cfg.arch == Arch::V7) {
        add_rows(x, kv, T, C, pool);
        return;
    }
    parallel_rows(pool, T, 4 * static_cast<std::size_t>(C), [&](int t0, int t1) {
        const std::size_t o = static_cast<std::size_t>(t0) * C;
        kt.add_gated(x + o, r + o, kv + o, (t1 - t0) * C);
    });
}

}  // namespace ravel::detail
