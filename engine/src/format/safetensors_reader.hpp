// .safetensors: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the tensor bytes. Tensor names are kept as written
// (BlinkDL names) and in header order.
#pragma once

#include <cstddef>
#include <span>

#include "format/shape_check.hpp"
#include "ravel/result.hpp"

namespace ravel::format {

// Tensor offsets in the result are relative to the start of `file`.
Result<ParsedWeights> read_safetensors(std::span<const std::byte> file);

}  // namespace ravel::format
