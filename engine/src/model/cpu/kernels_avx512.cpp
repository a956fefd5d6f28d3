// AVX-512 instantiation of the matrix kernels (compiled with -mavx512f -mavx512bw -mavx512vl
// -mfma -mf16c; only called when the CPU reports those features).
#include <immintrin.h>

#include <cstdint>

namespace ravel::detail::cpu::avx512 {
struct S {
    static constexpr const char* kName = "avx512";
    // GEMM micro-tile: 12 x 2 accumulators + 2 token vectors + 1 broadcast of 32 registers
    static constexpr int kGemmRows = 12;
    static constexpr int kGemmTokenVecs = 2;
    // dst[j * ld_dst + i] = src[i * ld_src + j] for a 16 x 16 block (GEMM packing of X):
    // pairs of rows interleaved, then 4 x 4 blocks within 128-bit lanes, then the lanes.
    static void transpose(const float* src, std::size_t ld_src, float* dst, std::size_t ld_dst) {
        __m512 r[16], t[16], u[16];
        for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld_src);
        for (int p = 0; p < 8; ++p) {
            t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
        }
        // u[4q + c], lane L: column 4L + c of rows 4q .. 4q + 3.
        for (int q = 0; q < 4; ++q) {
            u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
            u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
            u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
            u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
        }
        for (int c = 0; c < 4; ++c) {
            const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
            const __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
            const __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
            const __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
            _mm512_storeu_ps(dst + (0 + c) * ld_dst, _mm512_shuffle_f32x4(v0, v2, 0x88));
            _mm512_storeu_ps(dst + (4 + c) * ld_dst, _mm512_shuffle_f32x4(v0, v2, 0xDD));
            _mm512_storeu_ps(dst + (8 + c) * ld_dst, _mm512_shuffle_f32x4(v1, v3, 0x88));
            _mm512_storeu_ps(dst + (12 + c) * ld_dst, _mm512_shuffle_f32x4(v1, v3, 0xDD));
        }
    }
    static constexpr int W = 16;
    using V = __m512;
    static float half_to_float(std::uint16_t h) { return _cvtsh_ss(h); }
    static V zero() { return _mm512_setzero_ps(); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
    static V set1(float f) { return _mm512_set1_ps(f); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static float sum(V v) { return _mm512_reduce_add_ps(v); }
    static V load_f16(const std::uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    static V load_bf16(const std::uint16_t* p) {
        const __m512i x =
            _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
    }
    static V load_i8(const std::int8_t* p) {
        return _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    }
    static V load_lo4(const std::uint8_t* p) {
        const __m512i x =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm512_cvtepi32_ps(_mm512_and_si512(x, _mm512_set1_epi32(15)));
    }
    static V load_hi4(const std::uint8_t* p) {
        const __m512i x =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm512_cvtepi32_ps(_mm512_srli_epi32(x, 4));
    }
    static V load_bit16(std::uint32_t bits, int first) {
        return _mm512_maskz_mov_ps(static_cast<__mmask16>(bits >> first), _mm512_set1_ps(16.0f));
    }
};
}  // namespace ravel::detail::cpu::avx512

#define RAVEL_ISA_NS avx512
#include "model/cpu/simd_kernels.inl"
