#include "model/interleave.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "model/weight_arena.hpp"
#include "ravel/quant.hpp"

namespace ravel::detail {

namespace {
inline std::uint32_t load_u32(const std::byte* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
}  // namespace

std::size_t interleave_scale_bytes(DType type, int blocks) {
    return (static_cast<std::size_t>(blocks) *
                static_cast<std::size_t>(interleave_scale_stride(type)) +
            63) /
           64 * 64;
}

std::size_t interleave_group_bytes(DType type, int blocks) {
    return interleave_scale_bytes(type, blocks) +
           static_cast<std::size_t>(blocks) * static_cast<std::size_t>(interleave_lines(type)) * 64;
}

void interleave_group(DType type, int blocks, const std::byte* src, std::size_t row_bytes, int n,
                      std::byte* dst) {
    const std::size_t bsize = dtype_block_bytes(type);
    const int steps = interleave_steps(type);
    const int lines = interleave_lines(type);
    const std::size_t stride = static_cast<std::size_t>(interleave_scale_stride(type));
    const bool q8 = type == DType::Q8_0;
    const bool q5 = type == DType::Q5_1;
    const std::size_t qoff = static_cast<std::size_t>(block_quant_offset(type));
    const std::size_t scale_bytes = interleave_scale_bytes(type, blocks);
    std::byte* quants = dst + scale_bytes;
    // Zero scales for the padding rows and the area's padding; their quants are zeroed below.
    std::memset(dst, 0, scale_bytes);
    for (int i = 0; i < kInterleaveRows; ++i) {
        const std::byte* row = src + static_cast<std::size_t>(i) * row_bytes;
        for (int b = 0; b < blocks; ++b) {
            const std::byte* blk = row + static_cast<std::size_t>(b) * bsize;
            std::byte* line = quants + static_cast<std::size_t>(b) * lines * 64 + 4 * i;
            if (i >= n) {  // padding row: nothing to read, zero quants
                for (int s = 0; s < lines; ++s) std::memset(line + s * 64, 0, 4);
                continue;
            }
            std::byte* scales = dst + static_cast<std::size_t>(b) * stride + 2 * i;
            std::memcpy(scales, blk, 2);
            if (q5) std::memcpy(scales + 2 * kInterleaveRows, blk + 2, 2);  // the minimum
            for (int s = 0; s < steps; ++s) {
                std::uint32_t v = load_u32(blk + qoff + 4 * s);
                if (q8) v ^= 0x80808080u;  // to unsigned, as vpdpbusd takes it
                std::memcpy(line + s * 64, &v, 4);
            }
            if (q5) {
                const std::uint32_t lane = q5_1_high_bits_to_lane(load_u32(blk + 4));
                std::memcpy(line + steps * 64, &lane, 4);
            }
        }
    }
}

void deinterleave_block(const Matrix& w, int r, int b, std::byte* out) {
    const int blocks = w.cols / kQuantBlock;
    const int steps = interleave_steps(w.type);
    const std::size_t qoff = static_cast<std::size_t>(block_quant_offset(w.type));
    const std::byte* group = w.data + static_cast<std::size_t>(r / kInterleaveRows) * w.group_bytes;
    const int i = r % kInterleaveRows;
    const std::byte* scales =
        group +
        static_cast<std::size_t>(b) * static_cast<std::size_t>(interleave_scale_stride(w.type)) +
        2 * i;
    std::memcpy(out, scales, 2);
    const std::byte* line = group + interleave_scale_bytes(w.type, blocks) +
                            static_cast<std::size_t>(b) * interleave_lines(w.type) * 64 + 4 * i;
    for (int s = 0; s < steps; ++s) {
        std::memcpy(out + qoff + 4 * s, line + s * 64, 4);
        if (w.type == DType::Q8_0) {
            for (int k = 0; k < 4; ++k) out[qoff + 4 * s + k] ^= std::byte{0x80};
        }
    }
    if (w.type == DType::Q5_1) {
        std::memcpy(out + 2, scales + 2 * kInterleaveRows, 2);
        const std::uint32_t qh = q5_1_high_bits_from_lane(load_u32(line + steps * 64));
        std::memcpy(out + 4, &qh, 4);
    }
}

Result<Matrix> interleave_matrix(const Matrix& src, WeightArena* arena,
                                 const std::function<void(std::span<const std::byte>)>& copied) {
    if (!interleavable(src.type) || src.interleaved() || src.cols % kQuantBlock != 0) {
        return make_error(
            "internal: only row-layout q8_0 / q5_1 / q4_0 matrices can be interleaved");
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
    // Parts of about 4 MiB: madvise calls stay few, and a part is at most a few percent of
    // the resident set it saves.
    constexpr std::size_t kCopiedPart = std::size_t{4} << 20;
    const std::byte* given_back = src.data;
    for (int g = 0; g < interleave_groups(src.rows); ++g) {
        const int r0 = g * kInterleaveRows;
        const int n = std::min(kInterleaveRows, src.rows - r0);
        interleave_group(src.type, blocks, src.row(r0), src.row_bytes, n,
                         storage + static_cast<std::size_t>(g) * m.group_bytes);
        const std::byte* done = src.row(r0) + static_cast<std::size_t>(n) * src.row_bytes;
        if (copied && static_cast<std::size_t>(done - given_back) >= kCopiedPart) {
            copied({given_back, static_cast<std::size_t>(done - given_back)});
            given_back = done;
        }
    }
    return m;
}

}  // namespace ravel::detail
