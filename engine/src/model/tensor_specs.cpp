#include "model/tensor_specs.hpp"

namespace ravel::detail {

namespace {

struct SpecList {
    std::string prefix;
    std::vector<TensorSpec> specs;

    void vec(const char* name, std::int64_t n, Vec LayerWeights::*t) {
        specs.push_back({prefix + name, SpecKind::Vector, n, 0, t});
    }
    void mat(const char* name, std::int64_t rows, std::int64_t cols, Matrix LayerWeights::*t) {
        specs.push_back({prefix + name, SpecKind::Matrix, rows, cols, t});
    }
    void lora(const char* name, std::int64_t in, std::int64_t out, Matrix LayerWeights::*t) {
        specs.push_back({prefix + name, SpecKind::Lora, in, out, t});
    }
};

}  // namespace

std::vector<TensorSpec> layer_tensor_specs(const ModelConfig& cfg, int layer) {
    using L = LayerWeights;
    SpecList s{"blocks." + std::to_string(layer) + ".", {}};
    const std::int64_t C = cfg.n_embd;
    const std::int64_t F = cfg.dim_ffn;
    s.vec("ln1.weight", C, &L::ln1_w);
    s.vec("ln1.bias", C, &L::ln1_b);
    s.vec("ln2.weight", C, &L::ln2_w);
    s.vec("ln2.bias", C, &L::ln2_b);
    s.mat("att.receptance.weight", C, C, &L::att_r);
    s.mat("att.key.weight", C, C, &L::att_k);
    s.mat("att.value.weight", C, C, &L::att_v);
    s.mat("att.output.weight", C, C, &L::att_o);
    s.mat("ffn.key.weight", F, C, &L::ffn_k);
    s.mat("ffn.value.weight", C, F, &L::ffn_v);

    switch (cfg.arch) {
        case Arch::V4:
            s.vec("att.time_mix_k", C, &L::mix_k);
            s.vec("att.time_mix_v", C, &L::mix_v);
            s.vec("att.time_mix_r", C, &L::mix_r);
            s.vec("att.time_decay", C, &L::decay);
            s.vec("att.time_first", C, &L::bonus);
            break;
        case Arch::V5_2:
            s.vec("att.time_mix_k", C, &L::mix_k);
            s.vec("att.time_mix_v", C, &L::mix_v);
            s.vec("att.time_mix_r", C, &L::mix_r);
            s.vec("att.time_mix_g", C, &L::mix_g);
            s.vec("att.time_decay", C, &L::decay);
            s.vec("att.time_faaaa", C, &L::bonus);
            break;
        case Arch::V6:
            s.vec("att.time_maa_x", C, &L::maa_x);
            s.vec("att.time_maa_w", C, &L::maa_w);
            s.vec("att.time_maa_k", C, &L::maa_k);
            s.vec("att.time_maa_v", C, &L::maa_v);
            s.vec("att.time_maa_r", C, &L::maa_r);
            s.vec("att.time_maa_g", C, &L::maa_g);
            s.lora("att.time_maa_w1", C, 5 * std::int64_t{cfg.lora_mix}, &L::maa_w1);
            // time_maa_w2 (5, D, C) is split into five matrices by the loader.
            s.vec("att.time_decay", C, &L::decay);
            s.lora("att.time_decay_w1", C, cfg.lora_decay, &L::decay_w1);
            s.lora("att.time_decay_w2", cfg.lora_decay, C, &L::decay_w2);
            s.vec("att.time_faaaa", C, &L::bonus);
            break;
        case Arch::V7:
            s.vec("att.x_r", C, &L::x_r);
            s.vec("att.x_w", C, &L::x_w);
            s.vec("att.x_k", C, &L::x_k);
            s.vec("att.x_v", C, &L::x_v);
            s.vec("att.x_a", C, &L::x_a);
            s.vec("att.x_g", C, &L::x_g);
            s.vec("att.w0", C, &L::w0);
            s.lora("att.w1", C, cfg.lora_w, &L::w1);
            s.lora("att.w2", cfg.lora_w, C, &L::w2);
            s.vec("att.a0", C, &L::a0);
            s.lora("att.a1", C, cfg.lora_a, &L::a1);
            s.lora("att.a2", cfg.lora_a, C, &L::a2);
            // Layer 0 defines v_first and has no value residual: its v0/v1/v2, present in
            // training checkpoints, are deliberately not read.
            if (layer > 0) {
                s.vec("att.v0", C, &L::v0);
                s.lora("att.v1", C, cfg.lora_v, &L::v1);
                s.lora("att.v2", cfg.lora_v, C, &L::v2);
            }
            s.lora("att.g1", C, cfg.lora_g, &L::g1);
            s.lora("att.g2", cfg.lora_g, C, &L::g2);
            s.vec("att.k_k", C, &L::k_k);
            s.vec("att.k_a", C, &L::k_a);
            s.vec("att.r_k", C, &L::r_k);
            s.vec("ffn.x_k", C, &L::ffn_mix_k);
            break;
    }
    if (cfg.arch != Arch::V4) {
        s.vec("att.ln_x.weight", C, &L::ln_x_w);
        s.vec("att.ln_x.bias", C, &L::ln_x_b);
        s.mat("att.gate.weight", C, C, &L::att_g);
    }
    if (cfg.arch == Arch::V7) {
        // v7 has no gate matrix and no channel-mix receptance.
        std::erase_if(s.specs,
                      [&](const TensorSpec& t) { return t.name == s.prefix + "att.gate.weight"; });
    } else {
        s.mat("ffn.receptance.weight", C, C, &L::ffn_r);
        if (cfg.arch == Arch::V6) {
            s.vec("ffn.time_maa_k", C, &L::ffn_mix_k);
            s.vec("ffn.time_maa_r", C, &L::ffn_mix_r);
        } else {
            s.vec("ffn.time_mix_k", C, &L::ffn_mix_k);
            s.vec("ffn.time_mix_r", C, &L::ffn_mix_r);
        }
    }
    return s.specs;
}

Result<void> check_spec(const WeightFile& file, const TensorSpec& spec) {
    const TensorInfo* t = file.find(spec.name);
    if (t == nullptr) {
        return make_error(file.path().string() + ": tensor '" + spec.name +
                          "' is missing; this RWKV version needs it");
    }
    if (spec.kind == SpecKind::Vector) {
        if (t->elements() != spec.d0) {
            return make_error(file.path().string() + ": tensor '" + spec.name + "' has shape " +
                              t->shape_string() + " (" + std::to_string(t->elements()) +
                              " values); expected " + std::to_string(spec.d0) + " values");
        }
        return {};
    }
    if (t->shape.size() != 2 || t->shape[0] != spec.d0 || t->shape[1] != spec.d1) {
        return make_error(file.path().string() + ": tensor '" + spec.name + "' has shape " +
                          t->shape_string() + "; expected (" + std::to_string(spec.d0) + ", " +
                          std::to_string(spec.d1) + ")");
    }
    return {};
}

}  // namespace ravel::detail
