#include <cmath>
#include <string>

#include "model/ops.hpp"
#include "model/tensor_specs.hpp"
#include "model/weights.hpp"
#include "ravel/model.hpp"

namespace ravel {

Model::Model(ModelConfig config, FileFormat format, DType weight_type,
             std::unique_ptr<ModelWeights> weights)
    : config_(config),
      source_format_(format),
      weight_type_(weight_type),
      weights_(std::move(weights)) {}

Model::~Model() = default;

std::uint64_t Model::weight_bytes_per_token() const {
    std::uint64_t bytes = 0;
    auto vec = [&](const detail::Vec& v) { bytes += v.size() * sizeof(float); };
    auto mat = [&](const detail::Matrix& m) { bytes += m.bytes(); };
    for (const auto& l : weights_->layers) {
        for (const auto* v :
             {&l.ln1_w, &l.ln1_b, &l.ln2_w,     &l.ln2_b,    &l.mix_k,  &l.mix_v, &l.mix_r,
              &l.mix_g, &l.decay, &l.bonus,     &l.ln_x_w,   &l.ln_x_b, &l.maa_x, &l.maa_w,
              &l.maa_k, &l.maa_v, &l.maa_r,     &l.maa_g,    &l.x_r,    &l.x_w,   &l.x_k,
              &l.x_v,   &l.x_a,   &l.x_g,       &l.w0,       &l.a0,     &l.v0,    &l.k_k,
              &l.k_a,   &l.r_k,   &l.ffn_mix_k, &l.ffn_mix_r}) {
            vec(*v);
        }
        for (const auto* m : {&l.att_r, &l.att_k, &l.att_v, &l.att_g, &l.att_o, &l.maa_w1,
                              &l.decay_w1, &l.decay_w2, &l.w1, &l.w2, &l.a1, &l.a2, &l.v1, &l.v2,
                              &l.g1, &l.g2, &l.ffn_k, &l.ffn_v, &l.ffn_r}) {
            mat(*m);
        }
        for (const auto& m : l.maa_w2) mat(m);
    }
    vec(weights_->ln_out_w);
    vec(weights_->ln_out_b);
    mat(weights_->head);
    bytes += weights_->emb.row_bytes;  // one embedding row
    return bytes;
}

namespace {

Result<std::vector<float>> read(const WeightFile& f, const std::string& name) {
    const TensorInfo* t = f.find(name);
    if (t == nullptr) return make_error(f.path().string() + ": tensor '" + name + "' is missing");
    return f.read_f32(*t);
}

std::vector<float> transpose(const std::vector<float>& v, int rows, int cols) {
    std::vector<float> out(v.size());
    for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
            out[static_cast<std::size_t>(c) * rows + r] = v[static_cast<std::size_t>(r) * cols + c];
        }
    }
    return out;
}

// Transforms ChatRWKV applies at load time, so the forward pass uses the values directly.
void prepare_layer(const ModelConfig& cfg, LayerWeights& l) {
    if (cfg.arch == Arch::V4) {
        for (auto& w : l.decay) w = -std::exp(w);
    } else if (cfg.arch == Arch::V5_2) {
        for (auto& w : l.decay) w = std::exp(-std::exp(w));
    }
}

}  // namespace

Result<std::shared_ptr<const Model>> Model::from_file(const WeightFile& file,
                                                      const LoadOptions& options) {
    auto cfg_result = detect_config(file);
    if (!cfg_result) return cfg_result.error();
    const ModelConfig cfg = *cfg_result;
    const DType wtype = options.weight_type;

    auto weights = std::make_unique<ModelWeights>();
    auto progress = [&](int done) -> bool {
        return !options.progress || options.progress(static_cast<float>(done) / (cfg.n_layer + 2));
    };

    // Embedding with ln0 folded in, as ChatRWKV does at load time.
    {
        auto emb = read(file, "emb.weight");
        if (!emb) return emb.error();
        auto w0 = read(file, "blocks.0.ln0.weight");
        if (!w0) return w0.error();
        auto b0 = read(file, "blocks.0.ln0.bias");
        if (!b0) return b0.error();
        const int C = cfg.n_embd;
        for (int v = 0; v < cfg.n_vocab; ++v) {
            float* row = emb->data() + static_cast<std::size_t>(v) * C;
            detail::layer_norm(row, w0->data(), b0->data(), row, C);
        }
        auto m = detail::make_matrix(emb->data(), cfg.n_vocab, C, wtype);
        if (!m) return m.error();
        weights->emb = std::move(*m);
    }
    if (!progress(1)) return cancelled_error();

    weights->layers.resize(static_cast<std::size_t>(cfg.n_layer));
    for (int li = 0; li < cfg.n_layer; ++li) {
        LayerWeights& l = weights->layers[static_cast<std::size_t>(li)];
        for (const auto& spec : detail::layer_tensor_specs(cfg, li)) {
            auto values = read(file, spec.name);
            if (!values) return values.error();
            if (spec.kind == detail::SpecKind::Vector) {
                l.*std::get<detail::Vec LayerWeights::*>(spec.target) = std::move(*values);
                continue;
            }
            const bool lora = spec.kind == detail::SpecKind::Lora;
            const int rows = static_cast<int>(lora ? spec.d1 : spec.d0);
            const int cols = static_cast<int>(lora ? spec.d0 : spec.d1);
            std::vector<float> v = lora ? transpose(*values, cols, rows) : std::move(*values);
            // LoRA matrices are small and numerically sensitive: they stay fp32.
            auto m = detail::make_matrix(v.data(), rows, cols, lora ? DType::F32 : wtype);
            if (!m) return m.error();
            l.*std::get<detail::Matrix LayerWeights::*>(spec.target) = std::move(*m);
        }
        if (cfg.arch == Arch::V6) {
            auto w2 = read(file, "blocks." + std::to_string(li) + ".att.time_maa_w2");
            if (!w2) return w2.error();
            const int D = cfg.lora_mix;
            const int C = cfg.n_embd;
            for (int i = 0; i < 5; ++i) {
                std::vector<float> part(w2->begin() + static_cast<std::ptrdiff_t>(i) * D * C,
                                        w2->begin() + static_cast<std::ptrdiff_t>(i + 1) * D * C);
                auto m = detail::make_matrix(transpose(part, D, C).data(), C, D, DType::F32);
                if (!m) return m.error();
                l.maa_w2[i] = std::move(*m);
            }
        }
        l.has_value_residual = cfg.arch == Arch::V7 && li > 0;
        prepare_layer(cfg, l);
        if (!progress(li + 1)) return cancelled_error();
    }

    auto ln_w = read(file, "ln_out.weight");
    if (!ln_w) return ln_w.error();
    auto ln_b = read(file, "ln_out.bias");
    if (!ln_b) return ln_b.error();
    weights->ln_out_w = std::move(*ln_w);
    weights->ln_out_b = std::move(*ln_b);
    auto head = read(file, "head.weight");
    if (!head) return head.error();
    auto head_m = detail::make_matrix(head->data(), cfg.n_vocab, cfg.n_embd, wtype);
    if (!head_m) return head_m.error();
    weights->head = std::move(*head_m);
    if (!progress(cfg.n_layer + 2)) return cancelled_error();

    return std::shared_ptr<const Model>(
        std::make_shared<Model>(cfg, file.format(), wtype, std::move(weights)));
}

Result<std::shared_ptr<const Model>> Model::load(const std::filesystem::path& path,
                                                 const LoadOptions& options) {
    auto file = WeightFile::open(path);
    if (!file) return file.error();
    return from_file(*file, options);
}

}  // namespace ravel
