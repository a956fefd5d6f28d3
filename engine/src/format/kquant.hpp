// llama.cpp's "K" quantizations (q4_K, q5_K, q6_K), read from GGUF files only. Ravel has no
// kernels for them: a reader decodes them once at open and re-encodes them as q8_0 (see
// gguf_weights.cpp), which is near-lossless for values of at most 6 bits. llama.cpp's default
// q4_0 / q5_1 files store the output head as q6_K, and its K_M mixes store most matrices so.
//
// Each super-block holds 256 values:
//   q4_K (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for eight groups of 32,
//                     128 bytes of nibbles;                              x = d*sc*q - dmin*m
//   q5_K (176 bytes): as q4_K, plus 32 bytes holding each value's fifth bit
//   q6_K (210 bytes): 128 bytes of low nibbles, 64 bytes of high bit pairs, 16 int8 scales (one
//                     per group of 16), f16 d;                            x = d*sc*(q - 32)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace ravel::format {

inline constexpr std::size_t kKQuantBlock = 256;

// ggml type ids.
inline constexpr std::uint32_t kGgmlQ4K = 12;
inline constexpr std::uint32_t kGgmlQ5K = 13;
inline constexpr std::uint32_t kGgmlQ6K = 14;

// Bytes per super-block, or nullopt for a type that is not one of the three.
std::optional<std::size_t> kquant_block_bytes(std::uint32_t ggml_type);

// Decodes whole super-blocks: `src` holds out.size() / 256 of them. `ggml_type` must be one of
// the three (anything else leaves `out` untouched and returns false).
bool dequantize_kquant(std::uint32_t ggml_type, const std::byte* src, std::span<float> out);

}  // namespace ravel::format
