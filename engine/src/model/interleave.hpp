// The interleaved ("x16") layout of q8_0, q5_1 and q4_0 matrices, for the CPU decode kernels that
// multiply 16 rows at once: one integer dot-product instruction (vpdpbusd with VNNI,
// vpmaddubsw + vpmaddwd per 8 rows with AVX2) per 4 weights of each row.
//
// Rows are taken 16 at a time (a group; the last one padded with zero rows). A group of a
// matrix with B blocks per row is `group_bytes` bytes:
//   scales: for each block b, the 16 rows' f16 scales (row i at byte b * 32 + 2 i; for q5_1
//           b * 64 + 2 i, followed by the 16 rows' f16 minima at b * 64 + 32 + 2 i); the area
//           is padded to a multiple of 64 bytes, so the quants below start on a cache line;
//   quants: for each block b, `lines` lines of 64 bytes; line s < steps holds quant bytes
//           4s .. 4s + 3 of each row's block (row i at byte 4 i of the line).
// A q4_0 block's 16 bytes are 4 steps (low nibbles: weights 4s .. 4s + 3, high nibbles:
// weights 16 + 4s .. 16 + 4s + 3, as q4_0 stores them). A q5_1 block's 16 nibble bytes are 4
// steps the same way, and a fifth line holds each row's 32 high bits rearranged so that bit j
// of byte k is the high bit of weight 4j + k (q5_1_high_bits_to_lane): shifted by 4 - j, the
// four weights of step j (j < 4: low nibbles; j >= 4: high nibbles of step j - 4) have their
// high bits at bit 4 of their bytes, as one shift and one mask. A q8_0 block's 32 bytes are 8
// steps, each byte stored as q + 128 (XOR 0x80): unsigned, as vpdpbusd takes its first
// operand. So each 64-byte line is one 512-bit load whose 32-bit lanes are the 16 rows.
#pragma once

#include <functional>
#include <span>

#include <cstddef>
#include <cstdint>

#include "model/matrix.hpp"

namespace ravel::detail {

constexpr int kInterleaveRows = 16;

// Whether `type` has an interleaved form (q8_0, q5_1, q4_0).
constexpr bool interleavable(DType type) {
    return type == DType::Q8_0 || type == DType::Q4_0 || type == DType::Q5_1;
}
// 64-byte lines of quant bytes per block of the 16 rows (4 for q4_0 and q5_1, 8 for q8_0).
constexpr int interleave_steps(DType type) {
    return type == DType::Q8_0 ? 8 : 4;
}
// All 64-byte lines per block: the steps, and q5_1's line of high bits.
constexpr int interleave_lines(DType type) {
    return interleave_steps(type) + (type == DType::Q5_1 ? 1 : 0);
}
// Bytes of scale area per block: 32 (16 f16 scales), 64 for q5_1 (and 16 f16 minima).
constexpr int interleave_scale_stride(DType type) {
    return type == DType::Q5_1 ? 4 * kInterleaveRows : 2 * kInterleaveRows;
}
// Where a row-layout block's quant bytes start: after its f16 scale, and for q5_1 its f16
// minimum and 32 high bits.
constexpr int block_quant_offset(DType type) {
    return type == DType::Q5_1 ? 8 : 2;
}
// Bytes of one group's scale area for `blocks` blocks per row (padded to 64).
std::size_t interleave_scale_bytes(DType type, int blocks);
// q5_1's 32 high bits (bit n: weight n) as the interleaved line stores them (bit 8k + j:
// weight 4j + k), and back.
inline std::uint32_t q5_1_high_bits_to_lane(std::uint32_t qh) {
    std::uint32_t lane = 0;
    for (int j = 0; j < 8; ++j) {
        for (int k = 0; k < 4; ++k) lane |= ((qh >> (4 * j + k)) & 1u) << (8 * k + j);
    }
    return lane;
}
inline std::uint32_t q5_1_high_bits_from_lane(std::uint32_t lane) {
    std::uint32_t qh = 0;
    for (int j = 0; j < 8; ++j) {
        for (int k = 0; k < 4; ++k) qh |= ((lane >> (8 * k + j)) & 1u) << (4 * j + k);
    }
    return qh;
}
// Bytes of one group of 16 rows.
std::size_t interleave_group_bytes(DType type, int blocks);
// Groups of a matrix of `rows` rows.
inline int interleave_groups(int rows) {
    return (rows + kInterleaveRows - 1) / kInterleaveRows;
}

// Writes the group of `n` (<= 16) rows in the standard row layout (`row_bytes` apart from
// `src`) into `dst` (interleave_group_bytes bytes); rows n .. 15 are zero.
void interleave_group(DType type, int blocks, const std::byte* src, std::size_t row_bytes, int n,
                      std::byte* dst);
// Rebuilds block b of row r of an interleaved matrix in the standard layout (18 bytes for
// q4_0, 24 for q5_1, 34 for q8_0) into `out`. Not inline: the kernels of every instruction set call
// it, and one definition must serve them all.
void deinterleave_block(const Matrix& w, int r, int b, std::byte* out);

// The interleaved copy of a row-layout q8_0 / q5_1 / q4_0 matrix, in `arena` when given.
// `copied`, when given, is told every few MiB which leading part of the source's bytes will
// not be read again, so a source that is only being copied can be given back as it goes.
Result<Matrix> interleave_matrix(
    const Matrix& rows, WeightArena* arena,
    const std::function<void(std::span<const std::byte>)>& copied = {});

}  // namespace ravel::detail
