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

bool Workspace::quantized_ffn_hidden(const ModelConfig& cfg, int T, cpu::QuantizedTokens& out) {
    return cpu::quantized_tokens_in(ffn_hidden_quantized_, cpu::kSmallBatch, T, cfg.dim_ffn, out);
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
