// Synthetic models: the shapes of real RWKV checkpoints filled with seeded random values, for
// benchmarks that need no model file. Values are scaled so activations stay finite and
// realistic (unit-variance projections, decays in the trained range).
#include <charconv>
#include <cmath>
#include <string>

#include "model/build_model.hpp"
#include "model/weight_source.hpp"
#include "ravel/model.hpp"

namespace ravel {

namespace {

int round_lora(double width) {
    return std::max(32, static_cast<int>(std::lround(width / 32.0)) * 32);
}

std::uint64_t mix64(std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool ends_with(const std::string& s, const char* suffix) {
    const std::string_view sv(suffix);
    return s.size() >= sv.size() && s.compare(s.size() - sv.size(), sv.size(), sv) == 0;
}

class RandomSource final : public detail::WeightSource {
  public:
    RandomSource(const ModelConfig& cfg, std::uint64_t seed) : cfg_(cfg), seed_(seed) {}

    Result<void> read_rows(const std::string& name, std::int64_t cols, std::int64_t row0,
                           std::int64_t n, float* out) const override {
        std::uint64_t h = seed_;
        for (char c : name) h = mix64(h ^ static_cast<unsigned char>(c));
        const std::int64_t elements = cols;
        float lo = 0.0f, hi = 1.0f;  // token-shift mixes and most vectors
        if (ends_with(name, ".bias")) {
            lo = -0.05f, hi = 0.05f;
        } else if (name.find("ln") != std::string::npos && ends_with(name, ".weight")) {
            lo = 0.9f, hi = 1.1f;
        } else if (ends_with(name, ".weight")) {
            const double fan_in = name == "emb.weight" ? 1.0 : fan_in_of(name, elements);
            (void)elements;
            const float a = static_cast<float>(std::sqrt(3.0 / fan_in));
            lo = -a, hi = a;
        } else if (ends_with(name, "time_decay") || ends_with(name, ".w0")) {
            lo = -4.0f, hi = -0.5f;
        } else if (ends_with(name, "time_first") || ends_with(name, "time_faaaa")) {
            lo = -0.5f, hi = 0.5f;
        } else if (is_lora(name)) {
            lo = -0.02f, hi = 0.02f;
        }
        // Each row has its own stream, so values do not depend on how rows are batched.
        for (std::int64_t r = 0; r < n; ++r) {
            std::uint64_t state = mix64(h ^ static_cast<std::uint64_t>(row0 + r));
            float* row = out + r * cols;
            for (std::int64_t i = 0; i < cols; ++i) {
                state = mix64(state);
                const float u = static_cast<float>(state >> 40) * (1.0f / 16777216.0f);
                row[i] = lo + (hi - lo) * u;
            }
        }
        return {};
    }

  private:
    static bool is_lora(const std::string& name) {
        for (const char* s : {".w1", ".w2", ".a1", ".a2", ".v1", ".v2", ".g1", ".g2", "maa_w1",
                              "maa_w2", "decay_w1", "decay_w2"}) {
            if (ends_with(name, s)) return true;
        }
        return false;
    }
    double fan_in_of(const std::string& name, std::int64_t elements) const {
        // (out, in) matrices: in = C except the FFN value matrix (in = dim_ffn).
        if (ends_with(name, "ffn.value.weight")) return cfg_.dim_ffn;
        (void)elements;
        return cfg_.n_embd;
    }
    ModelConfig cfg_;
    std::uint64_t seed_;
};

}  // namespace

ModelConfig synthetic_config(const SyntheticSpec& s) {
    ModelConfig c;
    c.arch = s.arch;
    c.n_layer = s.n_layer;
    c.n_embd = s.n_embd;
    c.n_vocab = s.n_vocab;
    const double C = s.n_embd;
    if (s.arch != Arch::V4) {
        c.head_size = s.head_size;
        c.n_head = s.n_embd / s.head_size;
    }
    switch (s.arch) {
        case Arch::V4:
            c.dim_ffn = 4 * s.n_embd;
            break;
        case Arch::V5_2:
            c.dim_ffn = static_cast<int>(C * 3.5) / 32 * 32;
            break;
        case Arch::V6:
            c.dim_ffn = static_cast<int>(C * 3.5) / 32 * 32;
            c.lora_mix = s.n_embd < 4096 ? 32 : 64;
            c.lora_decay = s.n_embd < 4096 ? 64 : 128;
            break;
        case Arch::V7:
            c.dim_ffn = 4 * s.n_embd;
            c.lora_w = round_lora(1.8 * std::sqrt(C));
            c.lora_a = round_lora(1.8 * std::sqrt(C));
            c.lora_v = round_lora(1.3 * std::sqrt(C));
            c.lora_g = round_lora(0.6 * std::pow(C, 0.8));
            break;
    }
    return c;
}

Result<SyntheticSpec> parse_synthetic_spec(std::string_view text) {
    const std::string err =
        "synthetic model '" + std::string(text) +
        "' must look like v7:12x768 or v4:12x768:50277 (versions v4, v5, v6, v7)";
    SyntheticSpec s;
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return make_error(err);
    const std::string_view ver = text.substr(0, colon);
    if (ver == "v4")
        s.arch = Arch::V4;
    else if (ver == "v5" || ver == "v5.2")
        s.arch = Arch::V5_2;
    else if (ver == "v6")
        s.arch = Arch::V6;
    else if (ver == "v7")
        s.arch = Arch::V7;
    else
        return make_error(err);
    std::string_view rest = text.substr(colon + 1);
    auto number = [&](std::string_view part, int& out) {
        auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
        return ec == std::errc() && p == part.data() + part.size() && out > 0;
    };
    const auto x = rest.find('x');
    if (x == std::string_view::npos || !number(rest.substr(0, x), s.n_layer))
        return make_error(err);
    rest = rest.substr(x + 1);
    const auto c2 = rest.find(':');
    if (!number(rest.substr(0, c2), s.n_embd)) return make_error(err);
    if (c2 != std::string_view::npos && !number(rest.substr(c2 + 1), s.n_vocab))
        return make_error(err);
    if (s.n_layer > 1024 || s.n_embd > 65536 || s.n_vocab > (1 << 22)) {
        return make_error(err + "; the size is out of range");
    }
    if (s.arch != Arch::V4 && s.n_embd % s.head_size != 0) {
        return make_error("synthetic width " + std::to_string(s.n_embd) +
                          " must be a multiple of the head size " + std::to_string(s.head_size));
    }
    return s;
}

Result<std::shared_ptr<const Model>> Model::synthetic(const SyntheticSpec& spec,
                                                      const LoadOptions& options) {
    const ModelConfig cfg = synthetic_config(spec);
    return build_model(cfg, RandomSource(cfg, spec.seed), FileFormat::Synthetic, options);
}

}  // namespace ravel
