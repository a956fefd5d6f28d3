#include <charconv>
#include <string>

#include "model/tensor_specs.hpp"
#include "ravel/model.hpp"

namespace ravel {

std::string_view arch_name(Arch arch) {
    switch (arch) {
        case Arch::V4:
            return "4";
        case Arch::V5_2:
            return "5.2";
        case Arch::V6:
            return "6";
        case Arch::V7:
            return "7";
    }
    return "?";
}

std::size_t ModelConfig::state_floats() const {
    const std::size_t C = static_cast<std::size_t>(n_embd);
    const std::size_t per_layer =
        arch == Arch::V4 ? 5 * C : 2 * C + static_cast<std::size_t>(n_head) * head_size * head_size;
    return per_layer * static_cast<std::size_t>(n_layer);
}

namespace {

constexpr int kMaxLayers = 4096;
constexpr std::int64_t kMaxDim = 1 << 20;

Result<const TensorInfo*> need(const WeightFile& f, const std::string& name, std::size_t rank) {
    const TensorInfo* t = f.find(name);
    if (t == nullptr) {
        return make_error(f.path().string() + ": tensor '" + name +
                          "' is missing, so the RWKV architecture cannot be read");
    }
    if (t->shape.size() != rank) {
        return make_error(f.path().string() + ": tensor '" + name + "' has shape " +
                          t->shape_string() + "; expected " + std::to_string(rank) + " dimensions");
    }
    for (auto d : t->shape) {
        if (d <= 0 || d > kMaxDim) {
            return make_error(f.path().string() + ": tensor '" + name + "' has shape " +
                              t->shape_string() + ", which is out of range");
        }
    }
    return t;
}

int dim(const TensorInfo* t, int i) {
    return static_cast<int>(t->shape[static_cast<std::size_t>(i)]);
}

}  // namespace

Result<ModelConfig> detect_config(const WeightFile& f) {
    ModelConfig c;
    auto emb = need(f, "emb.weight", 2);
    if (!emb) return emb.error();
    c.n_vocab = dim(*emb, 0);
    c.n_embd = dim(*emb, 1);

    while (c.n_layer < kMaxLayers &&
           f.find("blocks." + std::to_string(c.n_layer) + ".ln1.weight") != nullptr) {
        ++c.n_layer;
    }
    if (c.n_layer == 0) {
        return make_error(f.path().string() +
                          ": no 'blocks.0.ln1.weight' tensor; this is not an RWKV checkpoint");
    }
    // The count stops at the first missing layer; tensors of a layer past it mean a layer was
    // lost, and running the layers before it would answer as a smaller, wrong model.
    for (const TensorInfo& t : f.tensors()) {
        const std::string_view name = t.name;
        if (!name.starts_with("blocks.")) continue;
        int layer = 0;
        const auto digits = name.substr(7);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), layer);
        if (ec != std::errc() || end == digits.data() || layer < c.n_layer) continue;
        return make_error(f.path().string() + ": tensor '" + t.name + "' belongs to layer " +
                          std::to_string(layer) + ", but 'blocks." + std::to_string(c.n_layer) +
                          ".ln1.weight' is missing: the checkpoint is incomplete");
    }

    // Tested in this order because v6 also carries the v5.2 tensors.
    if (f.find("blocks.0.att.k_k")) {
        c.arch = Arch::V7;
    } else if (f.find("blocks.0.att.time_maa_x")) {
        c.arch = Arch::V6;
    } else if (f.find("blocks.0.att.time_faaaa") && f.find("blocks.0.att.gate.weight")) {
        c.arch = Arch::V5_2;
    } else if (f.find("blocks.0.att.time_first")) {
        c.arch = Arch::V4;
    } else {
        return make_error(f.path().string() +
                          ": unrecognised RWKV version (none of att.k_k, att.time_maa_x, "
                          "att.time_faaaa, att.time_first found in block 0)");
    }

    auto ffn = need(f, "blocks.0.ffn.key.weight", 2);
    if (!ffn) return ffn.error();
    c.dim_ffn = dim(*ffn, 0);

    if (c.arch != Arch::V4) {
        const std::string heads =
            c.arch == Arch::V7 ? "blocks.0.att.r_k" : "blocks.0.att.time_faaaa";
        const TensorInfo* t = f.find(heads);
        if (t == nullptr || t->shape.empty() || t->shape[0] <= 0 || t->shape[0] > c.n_embd ||
            c.n_embd % t->shape[0] != 0 || t->elements() != c.n_embd) {
            return make_error(f.path().string() + ": tensor '" + heads +
                              "' must have shape (heads, head_size) with heads x head_size = " +
                              std::to_string(c.n_embd));
        }
        c.n_head = static_cast<int>(t->shape[0]);
        c.head_size = c.n_embd / c.n_head;
    }

    auto lora_width = [&](const std::string& name, int& out, int divisor) -> Result<void> {
        auto t = need(f, name, 2);
        if (!t) return t.error();
        if (dim(*t, 1) % divisor != 0) {
            return make_error(f.path().string() + ": tensor '" + name + "' has shape " +
                              (*t)->shape_string() + "; its second dimension must divide by " +
                              std::to_string(divisor));
        }
        out = dim(*t, 1) / divisor;
        return {};
    };
    if (c.arch == Arch::V6) {
        if (auto r = lora_width("blocks.0.att.time_maa_w1", c.lora_mix, 5); !r) return r.error();
        if (auto r = lora_width("blocks.0.att.time_decay_w1", c.lora_decay, 1); !r)
            return r.error();
    } else if (c.arch == Arch::V7) {
        if (auto r = lora_width("blocks.0.att.w1", c.lora_w, 1); !r) return r.error();
        if (auto r = lora_width("blocks.0.att.a1", c.lora_a, 1); !r) return r.error();
        if (auto r = lora_width("blocks.0.att.g1", c.lora_g, 1); !r) return r.error();
        if (c.n_layer > 1) {
            if (auto r = lora_width("blocks.1.att.v1", c.lora_v, 1); !r) return r.error();
        }
    }

    for (const auto& t : f.tensors()) c.n_params += t.elements();

    // Every tensor the forward pass reads must be present with a consistent shape.
    for (int l = 0; l < c.n_layer; ++l) {
        for (const auto& spec : detail::layer_tensor_specs(c, l)) {
            if (auto r = detail::check_spec(f, spec); !r) return r.error();
        }
    }
    const detail::TensorSpec globals[] = {
        {"blocks.0.ln0.weight", detail::SpecKind::Vector, c.n_embd, 0, {}},
        {"blocks.0.ln0.bias", detail::SpecKind::Vector, c.n_embd, 0, {}},
        {"ln_out.weight", detail::SpecKind::Vector, c.n_embd, 0, {}},
        {"ln_out.bias", detail::SpecKind::Vector, c.n_embd, 0, {}},
        {"head.weight", detail::SpecKind::Matrix, c.n_vocab, c.n_embd, {}},
    };
    for (const auto& spec : globals) {
        if (auto r = detail::check_spec(f, spec); !r) return r.error();
    }
    if (c.arch == Arch::V6) {
        for (int l = 0; l < c.n_layer; ++l) {
            const std::string name = "blocks." + std::to_string(l) + ".att.time_maa_w2";
            const TensorInfo* t = f.find(name);
            if (t == nullptr || t->shape.size() != 3 || t->shape[0] != 5 ||
                t->shape[1] != c.lora_mix || t->shape[2] != c.n_embd) {
                return make_error(
                    f.path().string() + ": tensor '" + name + "' " +
                    (t ? "has shape " + t->shape_string() : std::string("is missing")) +
                    "; expected (5, " + std::to_string(c.lora_mix) + ", " +
                    std::to_string(c.n_embd) + ")");
            }
        }
    }
    return c;
}

}  // namespace ravel
