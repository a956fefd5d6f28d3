// The weights of a loaded model in the engine's own layout. Names follow the BlinkDL checkpoint;
// LoRA matrices, stored (in, out) in the file, are transposed at load so every product is W x.
#pragma once

#include <vector>

#include "model/matrix.hpp"
#include "ravel/model.hpp"

namespace ravel {

namespace detail {
using Vec = std::vector<float>;
}

struct LayerWeights {
    detail::Vec ln1_w, ln1_b, ln2_w, ln2_b;

    // Time mixing, v4 / v5.2: static token-shift mixes.
    detail::Vec mix_k, mix_v, mix_r, mix_g;
    // v4: w = -exp(time_decay), u = time_first. v5.2: w = exp(-exp(time_decay)), u = time_faaaa.
    // v6: the raw time_decay (per-token decay adds the LoRA), u = time_faaaa.
    detail::Vec decay, bonus;
    detail::Matrix att_r, att_k, att_v, att_g, att_o;
    detail::Vec ln_x_w, ln_x_b;

    // v6 data-dependent mixing: x + sx * (maa_? + lora_?).
    detail::Vec maa_x, maa_w, maa_k, maa_v, maa_r, maa_g;
    detail::Matrix maa_w1;     // (5*D, C)
    detail::Matrix maa_w2[5];  // each (C, D), order w, k, v, r, g
    detail::Matrix decay_w1;   // (Dd, C)
    detail::Matrix decay_w2;   // (C, Dd)

    // v7.
    detail::Vec x_r, x_w, x_k, x_v, x_a, x_g;
    detail::Vec w0, a0, v0, k_k, k_a, r_k;
    detail::Matrix w1, w2, a1, a2, v1, v2, g1, g2;  // transposed LoRA: (D, C) and (C, D)
    bool has_value_residual = false;                // layers >= 1

    // Channel mixing. v4/v5.2 mix_k/mix_r; v6 maa_k/maa_r; v7 x_k only, no receptance.
    detail::Vec ffn_mix_k, ffn_mix_r;
    detail::Matrix ffn_k, ffn_v, ffn_r;
};

struct ModelWeights {
    detail::Matrix emb;  // n_vocab x n_embd, with blocks.0.ln0 already applied to every row
    std::vector<LayerWeights> layers;
    detail::Vec ln_out_w, ln_out_b;
    detail::Matrix head;
};

}  // namespace ravel
