// Which type each weight of a model is held in. The loader and the GPU memory check both ask
// here, so the check sizes the model the loader will build: per matrix, not by the majority
// type (a q8_0 head among q4_0 layers is 1.9x the head's bytes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model/weight_source.hpp"
#include "ravel/model.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::detail {

class WeightTypes {
  public:
    // `requested`: the type asked for (--dtype), applied to every matrix; without one, the
    // source's majority type, except that a matrix it stores quantized keeps its own type.
    WeightTypes(std::optional<DType> requested, const WeightSource& source);

    // The model's nominal type: the one asked for, or most of the source's matrix elements'.
    DType majority() const { return majority_; }
    // The type a layer matrix or the head is converted to (before storage_type_for). Kept per
    // tensor because a quantizer's mix chooses per tensor: llama.cpp keeps the output head in
    // q6_K (read as q8_0) in its q4_0 and q4_K_M files.
    DType matrix(const std::string& name) const;
    // The embedding's type: at least q8_0 (embedding_type); a file's own folded embedding
    // keeps its stored type when no type was asked for, as its rounding is already done.
    DType embedding() const;
    // LoRA matrices: f32 in f32 models, f16 otherwise, never quantized (they feed exp, tanh
    // and sigmoid). Kept in f32 they were a fifth of the bytes a q4_0 RWKV-7 0.1B token reads.
    DType lora() const { return majority_ == DType::F32 ? DType::F32 : DType::F16; }

  private:
    std::optional<DType> requested_;
    const WeightSource& source_;
    DType majority_;
};

// Bytes of every weight a model of this shape holds with these types (rows layout), each
// tensor rounded up to `alignment` bytes (the GPU arena's 256; 1 for the plain sum).
std::uint64_t estimate_weight_bytes(const ModelConfig& config, const WeightTypes& types,
                                    std::uint64_t alignment);
// The same for a model file, with the types its loader would choose (load_model.cpp).
std::uint64_t estimate_weight_bytes(const WeightFile& file, const ModelConfig& config,
                                    std::optional<DType> requested, std::uint64_t alignment);

}  // namespace ravel::detail
