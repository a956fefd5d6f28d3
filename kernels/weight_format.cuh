// Device-side decoding of the weight storage types (GGUF block layouts for the quantized ones),
// shared by the matrix kernels and the cuBLAS path. Private to kernels/.
//
//   q8_0: f16 d, 32 x int8 q                     x = d * q
//   q4_0: f16 d, 16 bytes of nibbles             x = d * (q - 8)
//   q5_1: f16 d, f16 m, u32 high bits, 16 bytes  x = d * q + m
// In q4_0 and q5_1, byte j holds value j in its low nibble and value j + 16 in its high one.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "ravel_kernels/common.hpp"

namespace ravel::kernels::dev {

constexpr int kBlock = 32;

__device__ __forceinline__ float f16_bits(std::uint16_t h) {
    return __half2float(__ushort_as_half(h));
}
__device__ __forceinline__ float bf16_bits(std::uint16_t b) {
    return __uint_as_float(static_cast<std::uint32_t>(b) << 16);
}
__device__ __forceinline__ std::uint16_t load_u16(const std::uint8_t* p) {
    return *reinterpret_cast<const std::uint16_t*>(p);  // blocks are 2-byte aligned
}

// Bytes per 32-value block.
template <WType W>
constexpr int block_bytes() {
    return W == WType::Q8_0 ? 34 : W == WType::Q4_0 ? 18 : 24;
}

// One value of a row, any type (the slow, general path: gathers and conversions).
__device__ __forceinline__ float load_weight(WType type, const std::uint8_t* row, int i) {
    switch (type) {
        case WType::F32:
            return reinterpret_cast<const float*>(row)[i];
        case WType::F16:
            return f16_bits(reinterpret_cast<const std::uint16_t*>(row)[i]);
        case WType::BF16:
            return bf16_bits(reinterpret_cast<const std::uint16_t*>(row)[i]);
        case WType::Q8_0: {
            const std::uint8_t* b = row + (i / kBlock) * block_bytes<WType::Q8_0>();
            return f16_bits(load_u16(b)) *
                   static_cast<float>(reinterpret_cast<const std::int8_t*>(b + 2)[i % kBlock]);
        }
        case WType::Q4_0: {
            const std::uint8_t* b = row + (i / kBlock) * block_bytes<WType::Q4_0>();
            const int j = i % kBlock;
            const std::uint8_t byte = b[2 + (j & 15)];
            const int q = j < 16 ? (byte & 0xf) : (byte >> 4);
            return f16_bits(load_u16(b)) * static_cast<float>(q - 8);
        }
        case WType::Q5_1: {
            const std::uint8_t* b = row + (i / kBlock) * block_bytes<WType::Q5_1>();
            const int j = i % kBlock;
            const std::uint32_t qh = static_cast<std::uint32_t>(load_u16(b + 4)) |
                                     (static_cast<std::uint32_t>(load_u16(b + 6)) << 16);
            const std::uint8_t byte = b[8 + (j & 15)];
            const int q =
                (j < 16 ? (byte & 0xf) : (byte >> 4)) | static_cast<int>(((qh >> j) & 1u) << 4);
            return f16_bits(load_u16(b)) * static_cast<float>(q) + f16_bits(load_u16(b + 2));
        }
    }
    return 0.0f;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

}  // namespace ravel::kernels::dev
