// Any readable model -> Ravel's own GGUF: BlinkDL names and shapes kept, matrices in the chosen
// type, the tokenizer vocabulary embedded, so the file is self-contained and opens by mmap.
#include <cmath>
#include <cstring>

#include "format/gguf_weights.hpp"
#include "ravel/gguf.hpp"
#include "ravel/quant.hpp"

namespace ravel {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

constexpr double kLayerNormEps = 1e-5;

// LayerNorm of each row of `x` (rows x cols) with weight `w` and bias `b`, in place.
void layer_norm_rows(std::vector<float>& x, std::size_t cols, const std::vector<float>& w,
                     const std::vector<float>& b) {
    for (std::size_t r = 0; r + cols <= x.size(); r += cols) {
        double mean = 0;
        for (std::size_t i = 0; i < cols; ++i) mean += x[r + i];
        mean /= static_cast<double>(cols);
        double var = 0;
        for (std::size_t i = 0; i < cols; ++i) var += (x[r + i] - mean) * (x[r + i] - mean);
        var /= static_cast<double>(cols);
        const double inv = 1.0 / std::sqrt(var + kLayerNormEps);
        for (std::size_t i = 0; i < cols; ++i) {
            x[r + i] = static_cast<float>((x[r + i] - mean) * inv * w[i] + b[i]);
        }
    }
}

bool marked(const WeightFile& f, std::string_view key) {
    auto it = f.metadata().find(std::string(key));
    return it != f.metadata().end() && it->second == "true";
}

}  // namespace

DType ravel_gguf_tensor_type(const TensorInfo& tensor, DType weight_type) {
    // LoRA matrices (att.w1, time_maa_w1, ...) have no ".weight" suffix in BlinkDL naming, so
    // this rule keeps them, and every vector, in f32.
    if (tensor.shape.size() != 2 || !ends_with(tensor.name, ".weight")) return DType::F32;
    const DType type = tensor.name == "emb.weight" ? embedding_type(weight_type) : weight_type;
    const auto block = static_cast<std::int64_t>(dtype_block_elements(type));
    if (tensor.shape[1] % block != 0) return DType::F32;
    return type;
}

Result<GgufConvertReport> convert_to_gguf(const WeightFile& source,
                                          const std::filesystem::path& out,
                                          const GgufConvertOptions& options) {
    GgufWriter w;
    w.add_string("general.architecture", kGgufRavelArch);
    w.add_u32("ravel.format_version", format::kRavelGgufFormatVersion);
    w.add_string("general.name", source.path().stem().string());
    // The block layouts are those of ggml's quantization version 2.
    w.add_u32("general.quantization_version", 2);
    w.add_string("ravel.weight_type", dtype_name(options.weight_type));
    w.add_string("ravel.source_format", file_format_name(source.format()));
    for (const auto& [k, v] : options.strings) w.add_string(k, v);
    for (const auto& [k, v] : options.numbers) w.add_u32(k, v);
    if (!options.tokenizer_kind.empty()) {
        w.add_string(std::string(kGgufTokenizerKind), options.tokenizer_kind);
        if (!options.tokenizer_file.empty()) {
            w.add_string(std::string(kGgufTokenizerFileName), options.tokenizer_file_name);
            w.add_string(std::string(kGgufTokenizerFile), options.tokenizer_file);
        }
    }

    // The embedding's LayerNorm, when it is to be folded in (or already was).
    const TensorInfo* ln0_w = source.find("blocks.0.ln0.weight");
    const TensorInfo* ln0_b = source.find("blocks.0.ln0.bias");
    const TensorInfo* emb = source.find("emb.weight");
    const bool already_folded = marked(source, kGgufEmbHasLn0);
    const bool fold = options.fold_ln0 && !already_folded;
    if (fold && (ln0_w == nullptr || ln0_b == nullptr || emb == nullptr || emb->shape.size() != 2 ||
                 ln0_w->elements() != emb->shape[1] || ln0_b->elements() != emb->shape[1])) {
        return make_error(source.path().string() +
                          ": cannot fold blocks.0.ln0 into emb.weight (missing or mismatched "
                          "tensors)");
    }
    if (fold || already_folded) w.add_string(std::string(kGgufEmbHasLn0), "true");

    GgufConvertReport report;
    for (const TensorInfo& t : source.tensors()) {
        const DType type = ravel_gguf_tensor_type(t, options.weight_type);
        if (type == options.weight_type) ++report.in_weight_type;
        ++report.tensors;
        std::vector<std::int64_t> shape = t.shape;
        // GGUF has no rank-0 tensors.
        if (shape.empty()) shape.push_back(1);
        const WeightFile* src = &source;
        const bool fold_this = fold && t.name == "emb.weight";
        const TensorInfo* lw = ln0_w;
        const TensorInfo* lb = ln0_b;
        auto fill = [src, t, type, fold_this, lw, lb](std::span<std::byte> dst) -> Result<void> {
            if (fold_this) {
                auto values = src->read_f32(t);
                auto lnw = src->read_f32(*lw);
                auto lnb = src->read_f32(*lb);
                if (!values || !lnw || !lnb) {
                    return make_error("cannot read emb.weight or blocks.0.ln0 to fold them");
                }
                layer_norm_rows(*values, static_cast<std::size_t>(t.shape[1]), *lnw, *lnb);
                return quantize_row(type, values->data(), values->size(), dst.data());
            }
            if (t.dtype == type) {
                // Already in the target type: copied, never quantized twice.
                const auto b = src->bytes(t);
                if (b.size() != dst.size()) return make_error("size mismatch");
                std::memcpy(dst.data(), b.data(), b.size());
                return {};
            }
            auto values = src->read_f32(t);
            if (!values) return values.error();
            return quantize_row(type, values->data(), values->size(), dst.data());
        };
        if (auto r = w.add_tensor(t.name, type, std::move(shape), std::move(fill)); !r) {
            return r.error();
        }
    }
    auto bytes = w.write(out);
    if (!bytes) return bytes.error();
    report.bytes = *bytes;
    return report;
}

}  // namespace ravel
