// The tensors each RWKV version needs, with their expected shapes. One table drives both the
// validation in detect_config() and the loading in Model::from_file().
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "model/weights.hpp"
#include "ravel/model.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::detail {

enum class SpecKind {
    Vector,  // any shape with `d0` elements, read as fp32
    Matrix,  // exactly (d0, d1), used as W x
    Lora,    // exactly (d0, d1) = (in, out) in the file, transposed to (out, in) at load
};

struct TensorSpec {
    std::string name;
    SpecKind kind;
    std::int64_t d0 = 0;
    std::int64_t d1 = 0;
    std::variant<Vec LayerWeights::*, Matrix LayerWeights::*> target;
};

std::vector<TensorSpec> layer_tensor_specs(const ModelConfig& config, int layer);

// Checks presence, element counts and shapes; the message names the tensor and what was expected.
Result<void> check_spec(const WeightFile& file, const TensorSpec& spec);

}  // namespace ravel::detail
