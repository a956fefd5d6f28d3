#include "model/forward.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/ops.hpp"

namespace ravel::detail {

void Workspace::ensure(const ModelConfig& cfg, int tokens) {
    if (tokens <= capacity) return;
    capacity = tokens;
    const std::size_t TC = static_cast<std::size_t>(tokens) * cfg.n_embd;
    shifted.resize(TC + static_cast<std::size_t>(cfg.n_embd));
    for (auto* b :
         {&x, &t0, &t1, &t2, &t3, &t4, &t5, &r, &k, &v, &g, &w, &a, &y, &kk, &v_first, &normed}) {
        b->resize(TC);
    }
    ffn.resize(static_cast<std::size_t>(tokens) * cfg.dim_ffn);
    const int lora = std::max(
        {5 * cfg.lora_mix, cfg.lora_decay, cfg.lora_w, cfg.lora_a, cfg.lora_v, cfg.lora_g, 1});
    // v7 runs its LoRAs side by side, each with its own hidden rows.
    const int lora_sum = cfg.lora_w + cfg.lora_a + cfg.lora_v + cfg.lora_g;
    lora_in.resize(static_cast<std::size_t>(tokens) * std::max(lora, lora_sum));
    lora_out.resize(static_cast<std::size_t>(tokens) * lora);
}

namespace {
// Where a head's rows of the receptance, key and value take at most this many bytes, the
// weights stream while the other thread updates its heads' state, against one region or more
// fewer per layer and a head's rows read in several short runs. RWKV-7, 2 threads, medians of
// per-run median tokens in sets of 4-10 alternating runs (bytes per head): v7 0.4B q4_0 (110
// KB) 7.78 -> 7.46, 8.19 -> 7.62, 8.78 -> 8.51 ms; v7 0.1B q8_0 (157 KB) 3.61 -> 3.42, 3.42 ->
// 3.35; v7 0.1B q4_0 (83 KB) 1.96 -> 1.90, 1.94 -> 1.93, 1.87 -> 1.88; v7 0.4B q8_0 (209 KB)
// 15.25 either way; f16 (295 and 393 KB) 9.66 -> 9.96 and 30.3 -> 31.0; f32 (590 KB) 18.7 ->
// 19.3.
constexpr std::uint64_t kHeadRowsMaxBytes = 192 * 1024;
}  // namespace

bool head_rows_in_heads_region(const LayerPass& p) {
    const LayerWeights& w = p.w;
    const std::uint64_t per_head = (w.att_r.bytes() + w.att_k.bytes() + w.att_v.bytes()) /
                                   static_cast<std::uint64_t>(std::max(1, p.cfg.n_head));
    return p.T <= cpu::kSmallBatch && per_head <= kHeadRowsMaxBytes;
}

int heads_per_grain(const LayerPass& p) {
    // One head's rows of a quantized projection are a short run (27.6 KB for v7 0.1B q4_0), and
    // a grain reads seven of them (the projections, the LoRAs' second halves) one after the
    // other, each starting cold. Consecutive heads' rows are contiguous, so a grain of several
    // heads reads each in one longer run; about three grains per thread still leave the last
    // ones to be shared. Zen 5 guest, 2 threads, tokens alternating between one head and this
    // per grain within one run (medians of 450-600 tokens each): v7 0.1B q4_0 (2 heads) -1.2
    // to -3.4% in seven runs, q8_0 -0.5 and -1.9%, v7 0.4B q4_0 -2.5% twice, v6 and v5.2 0.1B
    // shapes q4_0 -2.0 to -3.1%; 3 or 4 heads per grain about the same. When the guest's memory
    // was slow (tokens of 2.6-3.6 ms instead of 1.4-1.9) v7 within +-1%. (One thread takes all
    // heads at once: v7 0.1B q4_0 -5.5 to -6.9% against one head at a time.)
    if (p.ws.pool == nullptr || !head_rows_in_heads_region(p)) return 1;
    return std::max(1, p.cfg.n_head / (3 * p.ws.pool->size()));
}

namespace {
void prefetch_vectors(std::initializer_list<const float*> vectors, int n) {
    for (const float* v : vectors) {
        if (v != nullptr) prefetch_floats(v, n, false);
    }
}

const float* or_null(const Vec& v) {
    return v.empty() ? nullptr : v.data();
}
}  // namespace

void prefetch_channel_mix_inputs(const LayerPass& p) {
    if (p.T > cpu::kSmallBatch) return;
    const LayerWeights& w = p.w;
    prefetch_vectors({w.ln2_w.data(), w.ln2_b.data(), p.s.ffn_x_prev, or_null(w.ffn_mix_k),
                      or_null(w.ffn_mix_r)},
                     p.cfg.n_embd);
}

void prefetch_next_time_mix_inputs(const LayerPass& p) {
    if (p.T > cpu::kSmallBatch || p.next_w == nullptr) return;
    const LayerWeights& w = *p.next_w;
    prefetch_vectors(
        {w.ln1_w.data(), w.ln1_b.data(), p.next_s.att_x_prev, or_null(w.mix_k), or_null(w.mix_v),
         or_null(w.mix_r), or_null(w.mix_g), or_null(w.maa_x), or_null(w.x_r), or_null(w.x_w),
         or_null(w.x_k), or_null(w.x_v), or_null(w.x_a), or_null(w.x_g)},
        p.cfg.n_embd);
}

LayerState layer_state(const ModelConfig& cfg, State& state, int layer) {
    const std::size_t C = static_cast<std::size_t>(cfg.n_embd);
    const std::size_t per_layer = cfg.state_floats() / static_cast<std::size_t>(cfg.n_layer);
    float* base = state.values().data() + per_layer * static_cast<std::size_t>(layer);
    return {base, base + C, base + per_layer - C};
}

void forward(const Model& model, State& state, const std::int32_t* tokens, int T, Workspace& ws,
             float* logits_rows, bool all_rows) {
    const ModelConfig& cfg = model.config();
    const ModelWeights& mw = model.weights();
    const int C = cfg.n_embd;
    ws.ensure(cfg, T);

    float* x = ws.x.data();
    for (int t = 0; t < T; ++t)
        matrix_row_f32(mw.emb, tokens[t], x + static_cast<std::size_t>(t) * C);

    for (int l = 0; l < cfg.n_layer; ++l) {
        const bool last = l + 1 == cfg.n_layer;
        const LayerPass pass{cfg,
                             mw.layers[static_cast<std::size_t>(l)],
                             layer_state(cfg, state, l),
                             ws,
                             T,
                             l,
                             last ? nullptr : &mw.layers[static_cast<std::size_t>(l) + 1],
                             last ? LayerState{} : layer_state(cfg, state, l + 1)};
        switch (cfg.arch) {
            case Arch::V4:
                time_mix_v4(pass, x);
                break;
            case Arch::V5_2:
            case Arch::V6:
                time_mix_v5(pass, x);
                break;
            case Arch::V7:
                time_mix_v7(pass, x);
                break;
        }
        channel_mix(pass, x);
    }

    if (logits_rows != nullptr) head(model, ws, T, logits_rows, all_rows);
}

void head(const Model& model, Workspace& ws, int T, float* logits_rows, bool all_rows) {
    const ModelConfig& cfg = model.config();
    const ModelWeights& mw = model.weights();
    const int C = cfg.n_embd;
    const float* x = ws.x.data();
    // The head is the largest matrix; in sequence mode only the rows asked for are computed.
    const int first = all_rows ? 0 : T - 1;
    const int rows = T - first;
    for (int t = 0; t < rows; ++t) {
        layer_norm(x + static_cast<std::size_t>(first + t) * C, mw.ln_out_w.data(),
                   mw.ln_out_b.data(), ws.normed.data() + static_cast<std::size_t>(t) * C, C);
    }
    matmul(mw.head, ws.normed.data(), rows, logits_rows, ws.pool);
}

}  // namespace ravel::detail
