#include <cmath>
#include <map>
#include <string>

#include "cuda/placement.hpp"
#include "model/build_model.hpp"
#include "model/cpu/kernels.hpp"
#include "model/interleave.hpp"
#include "model/ops.hpp"
#include "model/tensor_specs.hpp"
#include "model/weight_arena.hpp"
#include "model/weight_source.hpp"
#include "model/weight_types.hpp"
#include "model/weights.hpp"
#include "ravel/device.hpp"
#include "ravel/model.hpp"
#include "ravel/quant.hpp"

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

std::uint64_t Model::weight_bytes() const {
    return weight_bytes_per_token() - weights_->emb.row_bytes + weights_->emb.bytes();
}

std::uint64_t Model::layer_matrix_elements() const {
    std::uint64_t n = 0;
    auto add = [&](const detail::Matrix& m) { n += static_cast<std::uint64_t>(m.rows) * m.cols; };
    for (const auto& l : weights_->layers) {
        for (const auto* m : {&l.att_r, &l.att_k, &l.att_v, &l.att_g, &l.att_o, &l.maa_w1,
                              &l.decay_w1, &l.decay_w2, &l.w1, &l.w2, &l.a1, &l.a2, &l.v1, &l.v2,
                              &l.g1, &l.g2, &l.ffn_k, &l.ffn_v, &l.ffn_r}) {
            add(*m);
        }
        for (const auto& m : l.maa_w2) add(m);
    }
    return n;
}

namespace {

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

// A matrix stored (rows, cols) in the source: used in place when the source already holds it
// in the wanted type and layout, otherwise converted a few rows at a time. A q8_0 / q5_1 / q4_0
// file tensor wanted interleaved is rearranged into the arena, and its mapped pages are released.
Result<detail::Matrix> load_matrix(const detail::WeightSource& src, const std::string& name,
                                   int rows, int cols, DType wanted, detail::WeightArena& arena,
                                   detail::MatrixLayout layout = detail::MatrixLayout::Rows) {
    const DType type = detail::storage_type_for(wanted, cols);
    if (auto bytes = src.stored_as(name, type); !bytes.empty()) {
        auto m =
            detail::borrow_matrix(bytes.data(), bytes.size(), rows, cols, type, src.keep_alive());
        if (!m || layout == detail::MatrixLayout::Rows || !detail::interleavable(type)) return m;
        auto interleaved = detail::interleave_matrix(
            *m, &arena, [&](std::span<const std::byte> copied) { src.release(copied); });
        if (interleaved) src.release(bytes);
        return interleaved;
    }
    auto m = detail::make_matrix_by_rows(
        rows, cols, type,
        [&](int r0, int n, float* out) { return src.read_rows(name, cols, r0, n, out); }, &arena,
        layout);
    if (m) src.release_tensor(name);
    return m;
}

// The layout the CPU kernels multiply q8_0 / q5_1 / q4_0 fastest in; row layout for a model headed
// for a GPU (its kernels read rows). A GPU asked for but not used (none, or one that cannot run
// the model) leaves the model on the CPU, with the CPU's layout.
detail::MatrixLayout quantized_layout(const detail::DevicePlan& plan) {
    if (plan.gpu || !detail::cpu::kernels().interleave_quantized) {
        return detail::MatrixLayout::Rows;
    }
    return detail::MatrixLayout::Interleaved16;
}

class FileSource final : public detail::WeightSource {
  public:
    explicit FileSource(const WeightFile& file) : file_(file) {}

    Result<void> read_rows(const std::string& name, std::int64_t cols, std::int64_t row0,
                           std::int64_t n, float* out) const override {
        const TensorInfo* t = file_.find(name);
        if (t == nullptr)
            return make_error(file_.path().string() + ": tensor '" + name + "' is missing");
        const auto bytes = file_.bytes(*t);
        const auto row_bytes = dtype_bytes_for(t->dtype, static_cast<std::uint64_t>(cols));
        const std::uint64_t begin = row_bytes ? *row_bytes * static_cast<std::uint64_t>(row0) : 0;
        const std::uint64_t size = row_bytes ? *row_bytes * static_cast<std::uint64_t>(n) : 0;
        if (row_bytes && bytes.size() == t->nbytes && begin + size <= bytes.size()) {
            return dequantize_row(t->dtype, bytes.data() + begin,
                                  static_cast<std::size_t>(n * cols), out);
        }
        // Tensors without plain row-major bytes (e.g. derived on load) are read whole.
        auto all = file_.read_f32(*t);
        if (!all) return all.error();
        const std::size_t first = static_cast<std::size_t>(row0 * cols);
        const std::size_t count = static_cast<std::size_t>(n * cols);
        if (first + count > all->size()) {
            return make_error(file_.path().string() + ": tensor '" + name +
                              "' is smaller than expected");
        }
        std::copy(all->begin() + static_cast<std::ptrdiff_t>(first),
                  all->begin() + static_cast<std::ptrdiff_t>(first + count), out);
        return {};
    }
    std::span<const std::byte> stored_as(const std::string& name, DType type) const override {
        const TensorInfo* t = file_.find(name);
        if (t == nullptr || t->dtype != type || type == DType::F32) return {};
        const auto bytes = file_.bytes(*t);
        return bytes.size() == t->nbytes ? bytes : std::span<const std::byte>{};
    }
    // Pages of the mapped file, and K-quant re-encodings (rebuilt if read again); other
    // derived tensors are ordinary memory that a later reader of this WeightFile still needs.
    void release(std::span<const std::byte> bytes) const override { file_.drop_pages(bytes); }
    void release_tensor(const std::string& name) const override {
        if (const TensorInfo* t = file_.find(name)) release(file_.bytes(*t));
    }
    void release_mapped() const override { file_.drop_file_pages(); }
    std::shared_ptr<const void> keep_alive() const override { return file_.mapping(); }
    bool embedding_has_ln0() const override {
        auto it = file_.metadata().find("ravel.emb_has_ln0");
        return it != file_.metadata().end() && it->second == "true";
    }
    DType stored_matrix_type() const override { return ravel::stored_matrix_type(file_); }
    std::optional<DType> stored_type(const std::string& name) const override {
        const TensorInfo* t = file_.find(name);
        return t != nullptr ? std::optional<DType>(t->dtype) : std::nullopt;
    }

  private:
    const WeightFile& file_;
};

}  // namespace

namespace detail {

std::uint64_t estimate_weight_bytes(const WeightFile& file, const ModelConfig& config,
                                    std::optional<DType> requested, std::uint64_t alignment) {
    const FileSource source(file);
    return estimate_weight_bytes(config, WeightTypes(requested, source), alignment);
}

}  // namespace detail

Result<std::shared_ptr<const Model>> build_model(const ModelConfig& cfg,
                                                 const detail::WeightSource& src, FileFormat format,
                                                 const LoadOptions& options) {
    const detail::WeightTypes types(options.weight_type, src);
    const DType wtype = types.majority();
    LoadOptions resolved = options;
    resolved.weight_type = wtype;
    auto plan = detail::plan_device(cfg, resolved, types);
    if (!plan) return plan.error();
    const DType lora_type = types.lora();
    const detail::MatrixLayout layout = quantized_layout(*plan);
    auto weights = std::make_unique<ModelWeights>();
    // Every converted matrix lives in huge-page-backed chunks (the matrices keep them alive).
    detail::WeightArena arena;
    auto progress = [&](int done) -> bool {
        return !options.progress || options.progress(static_cast<float>(done) / (cfg.n_layer + 2));
    };
    const int C = cfg.n_embd;

    // Embedding with ln0 folded in, as ChatRWKV does at load time; at least q8_0
    // (embedding_type). A file's folded embedding is kept as stored without a type asked for:
    // its rounding is done.
    if (src.embedding_has_ln0()) {
        auto m = load_matrix(src, "emb.weight", cfg.n_vocab, C, types.embedding(), arena);
        if (!m) return m.error();
        weights->emb = std::move(*m);
    } else {
        auto w0 = src.read_f32("blocks.0.ln0.weight", C);
        if (!w0) return w0.error();
        auto b0 = src.read_f32("blocks.0.ln0.bias", C);
        if (!b0) return b0.error();
        auto m = detail::make_matrix_by_rows(
            cfg.n_vocab, C, types.embedding(),
            [&](int r0, int n, float* out) -> Result<void> {
                if (auto ok = src.read_rows("emb.weight", C, r0, n, out); !ok) return ok;
                for (int i = 0; i < n; ++i) {
                    float* row = out + static_cast<std::size_t>(i) * C;
                    detail::layer_norm(row, w0->data(), b0->data(), row, C);
                }
                return {};
            },
            &arena);
        if (!m) return m.error();
        src.release_tensor("emb.weight");
        weights->emb = std::move(*m);
    }
    src.release_mapped();
    if (!progress(1)) return cancelled_error();

    weights->layers.resize(static_cast<std::size_t>(cfg.n_layer));
    for (int li = 0; li < cfg.n_layer; ++li) {
        LayerWeights& l = weights->layers[static_cast<std::size_t>(li)];
        for (const auto& spec : detail::layer_tensor_specs(cfg, li)) {
            if (spec.kind == detail::SpecKind::Vector) {
                auto values = src.read_f32(spec.name, spec.d0);
                if (!values) return values.error();
                l.*std::get<detail::Vec LayerWeights::*>(spec.target) = std::move(*values);
                continue;
            }
            Result<detail::Matrix> m = make_error("");
            if (spec.kind == detail::SpecKind::Matrix) {
                m = load_matrix(src, spec.name, static_cast<int>(spec.d0),
                                static_cast<int>(spec.d1), types.matrix(spec.name), arena, layout);
            } else {
                // LoRA matrices are transposed to (out, in) and never quantized: they feed
                // exp/tanh/sigmoid, and 4-bit blocks there cost more accuracy than they save.
                auto values = src.read_f32(spec.name, spec.d0 * spec.d1);
                if (!values) return values.error();
                const int in = static_cast<int>(spec.d0), out = static_cast<int>(spec.d1);
                m = detail::make_matrix(transpose(*values, in, out).data(), out, in, lora_type,
                                        &arena);
            }
            if (!m) return m.error();
            l.*std::get<detail::Matrix LayerWeights::*>(spec.target) = std::move(*m);
        }
        if (cfg.arch == Arch::V6) {
            const int D = cfg.lora_mix;
            auto w2 = src.read_f32("blocks." + std::to_string(li) + ".att.time_maa_w2",
                                   static_cast<std::int64_t>(5) * D * C);
            if (!w2) return w2.error();
            for (int i = 0; i < 5; ++i) {
                std::vector<float> part(w2->begin() + static_cast<std::ptrdiff_t>(i) * D * C,
                                        w2->begin() + static_cast<std::ptrdiff_t>(i + 1) * D * C);
                auto m = detail::make_matrix(transpose(part, D, C).data(), C, D, lora_type, &arena);
                if (!m) return m.error();
                l.maa_w2[i] = std::move(*m);
            }
        }
        l.has_value_residual = cfg.arch == Arch::V7 && li > 0;
        prepare_layer(cfg, l);
        src.release_mapped();
        if (!progress(li + 1)) return cancelled_error();
    }

    auto ln_w = src.read_f32("ln_out.weight", C);
    if (!ln_w) return ln_w.error();
    auto ln_b = src.read_f32("ln_out.bias", C);
    if (!ln_b) return ln_b.error();
    weights->ln_out_w = std::move(*ln_w);
    weights->ln_out_b = std::move(*ln_b);
    auto head =
        load_matrix(src, "head.weight", cfg.n_vocab, C, types.matrix("head.weight"), arena, layout);
    if (!head) return head.error();
    weights->head = std::move(*head);
    if (!progress(cfg.n_layer + 2)) return cancelled_error();

    auto model = std::make_shared<Model>(cfg, format, wtype, std::move(weights));
    if (auto placed = detail::place_model(*model, resolved, *plan); !placed) return placed.error();
    return std::shared_ptr<const Model>(std::move(model));
}

DType stored_matrix_type(const WeightFile& file) {
    std::map<DType, std::int64_t> elements;
    for (const TensorInfo& t : file.tensors()) {
        if (t.shape.size() == 2) elements[t.dtype] += t.shape[0] * t.shape[1];
    }
    DType best = DType::F32;
    std::int64_t most = -1;
    for (const auto& [type, n] : elements) {
        if (n > most) best = type, most = n;
    }
    return best;
}

Result<std::shared_ptr<const Model>> Model::from_file(const WeightFile& file,
                                                      const LoadOptions& options) {
    auto cfg = detect_config(file);
    if (!cfg) return cfg.error();
    return build_model(*cfg, FileSource(file), file.format(), options);
}

Result<std::shared_ptr<const Model>> Model::load(const std::filesystem::path& path,
                                                 const LoadOptions& options) {
    auto file = WeightFile::open(path);
    if (!file) return file.error();
    return from_file(*file, options);
}

}  // namespace ravel
