// The greedy pick of `ravel-cli bench`'s decode loop.
#pragma once

#include <cstdint>
#include <span>

namespace ravel::cli {

// The first index of the largest value, NaN skipped; 0 when there is none (empty, all NaN).
std::int32_t argmax(std::span<const float> v);

}  // namespace ravel::cli
