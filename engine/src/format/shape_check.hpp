// Shape validation shared by the readers: a header's dimensions are checked against the bytes
// actually present before any size derived from them is used.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"
#include "ravel/tensor.hpp"

namespace ravel::format {

inline constexpr std::size_t kMaxTensorRank = 16;

std::string shape_to_string(std::span<const std::int64_t> shape);

// Bytes of a `type` tensor of `shape`, or an error naming `tensor` when a dimension is negative,
// the rank is absurd, or the size exceeds `max_bytes` (the bytes the file can hold for it).
// Never overflows, whatever the dimensions.
Result<std::uint64_t> checked_tensor_bytes(std::string_view tensor, DType type,
                                           std::span<const std::int64_t> shape,
                                           std::uint64_t max_bytes);

// Everything a reader hands to WeightFile.
struct ParsedWeights {
    std::vector<TensorInfo> tensors;
    std::map<std::string, std::string> metadata;
};

}  // namespace ravel::format
