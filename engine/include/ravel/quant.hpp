// Quantized block formats (GGUF's layouts) and conversions to and from fp32. These are the
// reference (scalar) routines: loaders, the converter and tests use them; the fast CPU kernels
// are checked against them.
//
//   q8_0: 32 values = f16 scale d, 32 x int8 q;            x = d * q
//   q4_0: 32 values = f16 scale d, 16 bytes of nibbles;    x = d * (q - 8)
//   q5_1: 32 values = f16 scale d, f16 min m, 4 bytes of high bits, 16 bytes of nibbles;
//         x = d * q + m
// In q4_0 and q5_1, byte j holds value j in its low nibble and value j + 16 in its high one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ravel/result.hpp"
#include "ravel/tensor.hpp"

namespace ravel {

constexpr int kQuantBlock = 32;

// Converts `n` values (a multiple of the block size for quantized types) to `type`, writing
// dtype_bytes_for(type, n) bytes.
Result<void> quantize_row(DType type, const float* src, std::size_t n, std::byte* dst);
// The inverse: `n` values of `type` to fp32.
Result<void> dequantize_row(DType type, const std::byte* src, std::size_t n, float* dst);

}  // namespace ravel
