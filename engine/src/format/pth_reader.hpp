// BlinkDL .pth checkpoints: a PyTorch zip archive whose `<top>/data.pkl` pickles a flat
// OrderedDict name -> tensor, each tensor's bytes held in the stored entry `<top>/data/<key>`.
#pragma once

#include <cstddef>
#include <span>

#include "format/shape_check.hpp"
#include "ravel/result.hpp"

namespace ravel::format {

// Tensor offsets in the result are relative to the start of `file`. Only contiguous f32, f16
// and bf16 tensors are accepted; anything else is an error naming the tensor.
Result<ParsedWeights> read_pth(std::span<const std::byte> file);

}  // namespace ravel::format
