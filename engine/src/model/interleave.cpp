#include "model/interleave.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "model/weight_arena.hpp"
#include "ravel/quant.hpp"

namespace ravel::detail {

namespace {
constexpr int kQuantOffset = 2;  // the f16 scale leads each block
inline std::size_t block_size(DType type) {
    return type == DType::Q8_0 ? 34 : 18;
}
}  // namespace

bool interleavable(DType type) {
    return type == DType::Q8_0 || type == DType::Q4_0;
}

int interleave_steps(DType type) {
    return type == DType::Q8_0 ? 8 : 4;
}

std::size_t interleave_scale_bytes(int blocks) {
    return (static_cast<std::size_t>(blocks) * 2 * kInterleaveRows + 63) / 64 * 64;
}

std::size_t interleave_group_bytes(DType type, int blocks) {
    return interleave_scale_bytes(blocks) +
           static_cast<std::size_t>(blocks) * static_cast<std::size_t>(interleave_steps(type)) * 64;
}

void interleave_group(DType type, int blocks, const std::byte* src, std::size_t row_bytes, int n,
                      std::byte* dst) {
    const std::size_t bsize = block_size(type);
    const int steps = interleave_steps(type);
    const bool q8 = type == DType::Q8_0;
    const std::size_t scale_bytes = interleave_scale_bytes(blocks);
    std::byte* quants = dst + scale_bytes;
    // Zero scales for the padding rows and the area's padding; their quants are zeroed below.
    std::memset(dst, 0, scale_bytes);
    for (int i = 0; i < kInterleaveRows; ++i) {
        const std::byte* row = src + static_cast<std::size_t>(i) * row_bytes;
        for (int b = 0; b < blocks; ++b) {
            const std::byte* blk = row + static_cast<std::size_t>(b) * bsize;
            std::byte* line = quants + static_cast<std::size_t>(b) * steps * 64 + 4 * i;
            if (i >= n) {  // padding row: nothing to read, zero quants
                for (int s = 0; s < steps; ++s) std::memset(line + s * 64, 0, 4);
                continue;
            }
            std::memcpy(dst + static_cast<std::size_t>(b) * 32 + 2 * i, blk, 2);
            for (int s = 0; s < steps; ++s) {
                std::uint32_t v;
                std::memcpy(&v, blk + kQuantOffset + 4 * s, 4);
                if (q8) v ^= 0x80808080u;  // to unsigned, as vpdpbusd takes it
                std::memcpy(line + s * 64, &v, 4);
            }
        }
    }
}

void deinterleave_block(const Matrix& w, int r, int b, std::byte* out) {
    const int blocks = w.cols / kQuantBlock;
    const int steps = interleave_steps(w.type);
    const std::byte* group = w.data + static_cast<std::size_t>(r / kInterleaveRows) * w.group_bytes;
    const int i = r % kInterleaveRows;
    std::memcpy(out, group + static_cast<std::size_t>(b) * 32 + 2 * i, 2);
    const std::byte* line =
        group + interleave_scale_bytes(blocks) + static_cast<std::size_t>(b) * steps * 64;
    for (int s = 0; s < steps; ++s) {
        std::memcpy(out + kQuantOffset + 4 * s, line + s * 64 + 4 * i, 4);
        if (w.type == DType::Q8_0) {
            for (int k = 0; k < 4; ++k) out[kQuantOffset + 4 * s + k] ^= std::byte{0x80};
        }
    }
}

Result<Matrix> interleave_matrix(const Matrix& src, WeightArena* arena) {
    if (!interleavable(src.type) || src.interleaved() || src.cols % kQuantBlock != 0) {
        return make_error("internal: only row-layout q8_0 / q4_0 matrices can be interleaved");
    }
    const int blocks = src.cols / kQuantBlock;
    Matrix m;
    m.type = src.type;
    m.layout = MatrixLayout::Interleaved16;
    m.rows = src.rows;
    m.cols = src.cols;
    m.row_bytes = src.row_bytes;
    m.group_bytes = interleave_group_bytes(src.type, blocks);
    auto allocated = allocate_matrix_storage(m, arena);
    if (!allocated) return allocated.error();
    std::byte* storage = *allocated;
    for (int g = 0; g < interleave_groups(src.rows); ++g) {
        const int r0 = g * kInterleaveRows;
        interleave_group(src.type, blocks, src.row(r0), src.row_bytes,
                         std::min(kInterleaveRows, src.rows - r0),
                         storage + static_cast<std::size_t>(g) * m.group_bytes);
    }
    return m;
}

}  // namespace ravel::detail
