#include "model/weight_types.hpp"

#include "model/matrix.hpp"
#include "model/tensor_specs.hpp"
#include "ravel/tensor.hpp"

namespace ravel::detail {

WeightTypes::WeightTypes(std::optional<DType> requested, const WeightSource& source)
    : requested_(requested),
      source_(source),
      majority_(requested.value_or(source.stored_matrix_type())) {}

DType WeightTypes::matrix(const std::string& name) const {
    if (requested_) return *requested_;
    const auto stored = source_.stored_type(name);
    return stored && dtype_block_elements(*stored) > 1 ? *stored : majority_;
}

DType WeightTypes::embedding() const {
    if (source_.embedding_has_ln0()) {
        return requested_ ? embedding_type(majority_) : matrix("emb.weight");
    }
    return embedding_type(matrix("emb.weight"));
}

std::uint64_t estimate_weight_bytes(const ModelConfig& cfg, const WeightTypes& types,
                                    std::uint64_t alignment) {
    const auto padded = [&](std::uint64_t bytes) {
        return (bytes + alignment - 1) / alignment * alignment;
    };
    const auto mat = [&](std::int64_t rows, std::int64_t cols, DType type) {
        const DType t = storage_type_for(type, static_cast<int>(cols));
        const auto row = dtype_bytes_for(t, static_cast<std::uint64_t>(cols));
        return padded((row ? *row : static_cast<std::uint64_t>(cols) * 4) *
                      static_cast<std::uint64_t>(rows));
    };
    const auto vec = [&](std::int64_t n) { return padded(static_cast<std::uint64_t>(n) * 4); };
    std::uint64_t total = mat(cfg.n_vocab, cfg.n_embd, types.embedding()) +
                          mat(cfg.n_vocab, cfg.n_embd, types.matrix("head.weight")) +
                          2 * vec(cfg.n_embd);
    for (int l = 0; l < cfg.n_layer; ++l) {
        for (const auto& spec : layer_tensor_specs(cfg, l)) {
            switch (spec.kind) {
                case SpecKind::Vector:
                    total += vec(spec.d0);
                    break;
                case SpecKind::Matrix:
                    total += mat(spec.d0, spec.d1, types.matrix(spec.name));
                    break;
                case SpecKind::Lora:  // (in, out) in the file, held as (out, in)
                    total += mat(spec.d1, spec.d0, types.lora());
                    break;
            }
        }
        if (cfg.arch == Arch::V6) total += 5 * mat(cfg.n_embd, cfg.lora_mix, types.lora());
    }
    return total;
}

}  // namespace ravel::detail
