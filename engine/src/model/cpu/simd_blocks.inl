// Decoding of one weight block into SIMD vectors, shared by the decode and GEMM kernels.
// Included inside namespace ravel::detail::cpu::<isa>::{anonymous} by simd_kernels.inl.

inline int imin(int a, int b) {
    return a < b ? a : b;
}

constexpr int kBlock = kQuantBlock;  // values per decode block for every type
constexpr int kVecs = kBlock / S::W;

inline float half_at(const std::byte* p) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return S::half_to_float(h);
}

// Decodes block b (32 values) of a row into kVecs vectors.
template <DType T>
inline void decode_block(const std::byte* row, int b, S::V out[kVecs]) {
    if constexpr (T == DType::F32) {
        const float* p = reinterpret_cast<const float*>(row) + b * kBlock;
        for (int i = 0; i < kVecs; ++i) out[i] = S::load(p + i * S::W);
    } else if constexpr (T == DType::F16 || T == DType::BF16) {
        const auto* p = reinterpret_cast<const std::uint16_t*>(row) + b * kBlock;
        for (int i = 0; i < kVecs; ++i) {
            out[i] = T == DType::F16 ? S::load_f16(p + i * S::W) : S::load_bf16(p + i * S::W);
        }
    } else if constexpr (T == DType::Q8_0) {
        const std::byte* blk = row + b * 34;
        const S::V d = S::set1(half_at(blk));
        const auto* q = reinterpret_cast<const std::int8_t*>(blk + 2);
        for (int i = 0; i < kVecs; ++i) out[i] = S::mul(d, S::load_i8(q + i * S::W));
    } else if constexpr (T == DType::Q4_0) {
        const std::byte* blk = row + b * 18;
        const S::V d = S::set1(half_at(blk));
        const S::V eight = S::set1(8.0f);
        const auto* qs = reinterpret_cast<const std::uint8_t*>(blk + 2);
        constexpr int half = kVecs / 2;  // vectors per 16 values
        for (int i = 0; i < half; ++i) {
            out[i] = S::mul(d, S::sub(S::load_lo4(qs + i * S::W), eight));
            out[half + i] = S::mul(d, S::sub(S::load_hi4(qs + i * S::W), eight));
        }
    } else if constexpr (T == DType::Q5_1) {
        const std::byte* blk = row + b * 24;
        const S::V d = S::set1(half_at(blk));
        const S::V m = S::set1(half_at(blk + 2));
        std::uint32_t qh;
        std::memcpy(&qh, blk + 4, 4);
        const auto* qs = reinterpret_cast<const std::uint8_t*>(blk + 8);
        constexpr int half = kVecs / 2;
        for (int i = 0; i < half; ++i) {
            const S::V lo = S::add(S::load_lo4(qs + i * S::W), S::load_bit16(qh, i * S::W));
            const S::V hi = S::add(S::load_hi4(qs + i * S::W), S::load_bit16(qh, 16 + i * S::W));
            out[i] = S::fma(d, lo, m);
            out[half + i] = S::fma(d, hi, m);
        }
    }
}

// Rebuilds block b of row r of an interleaved q8_0 / q5_1 / q4_0 matrix (model/interleave.hpp)
// in the row layout, into `out` (34 bytes for q8_0, 24 for q5_1, 18 for q4_0). A copy of
// deinterleave_block compiled per instruction set, so the GEMM's weight staging makes no call
// per block.
template <DType T>
inline void x16_block(const Matrix& w, int r, int b, std::byte* out) {
    constexpr bool kQ5 = T == DType::Q5_1;
    constexpr int kSteps = interleave_steps(T);
    constexpr int kLines = interleave_lines(T);
    constexpr int kScaleStride = interleave_scale_stride(T);
    constexpr int kQuants = block_quant_offset(T);
    const std::byte* group = w.data + static_cast<std::size_t>(r / 16) * w.group_bytes;
    const int i = r % 16;
    const std::size_t quants =
        w.group_bytes - static_cast<std::size_t>(w.cols / kBlock) * kLines * 64;
    const std::byte* scales = group + static_cast<std::size_t>(b) * kScaleStride + 2 * i;
    std::memcpy(out, scales, 2);
    const std::byte* lane = group + quants + static_cast<std::size_t>(b) * kLines * 64 + 4 * i;
    for (int s = 0; s < kSteps; ++s) {
        std::uint32_t v;
        std::memcpy(&v, lane + s * 64, 4);
        if constexpr (T == DType::Q8_0) v ^= 0x80808080u;  // stored offset to unsigned
        std::memcpy(out + kQuants + 4 * s, &v, 4);
    }
    if constexpr (kQ5) {
        std::memcpy(out + 2, scales + 32, 2);  // the minimum
        std::uint32_t bits;
        std::memcpy(&bits, lane + kSteps * 64, 4);
        const std::uint32_t qh = q5_1_high_bits_from_lane(bits);
        std::memcpy(out + 4, &qh, 4);
    }
}

inline float scalar_at(DType type, const std::byte* row, int c) {
    if (type == DType::F32) return reinterpret_cast<const float*>(row)[c];
    std::uint16_t h;
    std::memcpy(&h, row + 2 * static_cast<std::size_t>(c), 2);
    return type == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}
