// RWKV-4 time mixing with ChatRWKV's max-shifted WKV: aa and bb are the numerator and
// denominator scaled by e^-pp, so nothing overflows however long the context grows.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/forward.hpp"
#include "model/ops.hpp"

namespace ravel::detail {

void time_mix_v4(const LayerPass& p, float* x) {
    const int C = p.cfg.n_embd;
    const int T = p.T;
    const LayerWeights& w = p.w;
    const cpu::KernelTable& kt = cpu::kernels();
    ThreadPool* pool = p.ws.pool;
    float* sx = p.ws.shifted.data();  // token-shifted rows
    float* xx = sx + C;               // normed rows
    float* kx = p.ws.t0.data();
    float* vx = p.ws.t1.data();
    float* rx = p.ws.t2.data();

    const ShiftMix mixes[3] = {{w.mix_k.data(), kx}, {w.mix_v.data(), vx}, {w.mix_r.data(), rx}};
    norm_and_shift(x, w.ln1_w.data(), w.ln1_b.data(), p.s.att_x_prev, T, C, sx, pool, mixes);
    shift_mix(xx, sx, T, C, mixes, MixRule::Blend, pool);
    prefetch_channel_mix_inputs(p);
    float* k = p.ws.k.data();
    float* v = p.ws.v.data();
    float* r = p.ws.r.data();
    const Product projections[3] = {{&w.att_k, kx, k}, {&w.att_v, vx, v}, {&w.att_r, rx, r}};
    matmul_group(projections, T, pool);

    // Channels are independent: each thread runs all T tokens for its own channel range,
    // vectorised across channels.
    float* aa = p.s.att;
    float* bb = p.s.att + C;
    float* pp = p.s.att + 2 * C;
    float* y = p.ws.y.data();
    auto channels = [&](int /*thread*/, std::int64_t c0, std::int64_t c1) {
        kt.wkv4(k + c0, v + c0, r + c0, w.bonus.data() + c0, w.decay.data() + c0, aa + c0, bb + c0,
                pp + c0, y + c0, T, static_cast<int>(c1 - c0), static_cast<std::size_t>(C));
    };
    if (pool != nullptr && T > 1) {
        pool->parallel_for_dynamic(C, 32, channels);
    } else {
        channels(0, 0, C);
    }
    float* out = p.ws.t3.data();
    matmul(w.att_o, y, T, out, pool);
    add_rows(x, out, T, C, pool);
}

}  // namespace ravel::detail
