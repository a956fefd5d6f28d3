// llama.cpp's "K" quantizations (q4_K, q5_K, q6_K), read from GGUF files only. Ravel has no
// kernels for them: a reader re-encodes them once at open (gguf_kquant.cpp). q4_K and q5_K
// become q5_1 block for block: each group of 32 already is d q + m with q of at most 5 bits, so
// only the group's scale and minimum are rounded, to f16 (a relative 2^-11), at 6 bits per
// value where q8_0 took 8.5. q6_K becomes q8_0, near-lossless for 6-bit values. llama.cpp's
// default q4_0 / q5_1 files store the output head as q6_K, and its K_M mixes store most
// matrices as q4_K or q5_K.
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

// Whether the type is one that kquant_to_q5_1 takes (q4_K, q5_K).
bool kquant_fits_q5_1(std::uint32_t ggml_type);

// Rewrites `blocks` q4_K / q5_K super-blocks from `src` as 8 * blocks q5_1 blocks (24 bytes
// each) at `dst`. False where a group's scale or minimum is not finite or is beyond f16's
// range (nothing a quantizer writes), or for another type; `dst` is then partly written.
bool kquant_to_q5_1(std::uint32_t ggml_type, const std::byte* src, std::size_t blocks,
                    std::byte* dst);

}  // namespace ravel::format
