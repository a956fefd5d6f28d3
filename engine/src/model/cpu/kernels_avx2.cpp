// AVX2 + FMA + F16C instantiation of the matrix kernels. kernels_avx2vnni.cpp compiles this
// file a second time with -mavxvnni, into its own namespace.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model/interleave.hpp"

#ifndef RAVEL_AVX2_NS
#define RAVEL_AVX2_NS avx2
#endif
#if defined(__AVXVNNI__)
#define RAVEL_AVX2_NAME "avx2vnni"
#else
#define RAVEL_AVX2_NAME "avx2"
#endif

namespace ravel::detail::cpu::RAVEL_AVX2_NS {
struct S {
    static constexpr const char* kName = RAVEL_AVX2_NAME;
    // GEMM micro-tile: 6 x 2 accumulators + 2 token vectors + 1 broadcast of 16 registers
    static constexpr int kGemmRows = 6;
    static constexpr int kGemmTokenVecs = 2;
    // dst[j * ld_dst + i] = src[i * ld_src + j] for an 8 x 8 block (GEMM packing of X).
    static void transpose(const float* src, std::size_t ld_src, float* dst, std::size_t ld_dst) {
        __m256 r[8], t[8], u[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld_src);
        for (int p = 0; p < 4; ++p) {
            t[2 * p] = _mm256_unpacklo_ps(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm256_unpackhi_ps(r[2 * p], r[2 * p + 1]);
        }
        // u[4q + c], lane L: column 4L + c of rows 4q .. 4q + 3.
        for (int q = 0; q < 2; ++q) {
            u[4 * q + 0] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
            u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
            u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
            u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
        }
        for (int c = 0; c < 4; ++c) {
            _mm256_storeu_ps(dst + c * ld_dst, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
            _mm256_storeu_ps(dst + (4 + c) * ld_dst, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
        }
    }
    static constexpr int W = 8;
    using V = __m256;
    static float half_to_float(std::uint16_t h) { return _cvtsh_ss(h); }
    static V zero() { return _mm256_setzero_ps(); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
    static V set1(float f) { return _mm256_set1_ps(f); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static float sum(V v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        return _mm_cvtss_f32(s);
    }
    static V load_f16(const std::uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static V load_bf16(const std::uint16_t* p) {
        const __m256i x =
            _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
    }
    // 8 bytes at p in the low half of a vector. Through memcpy: with _mm_loadl_epi64 on bytes
    // just written to a local buffer (the GEMM's rebuilt interleaved blocks), GCC 12 at -O2
    // read stale values in one arrangement of the calling code (test_cpu_kernels caught it).
    static __m128i load8(const void* p) {
        long long bits;
        std::memcpy(&bits, p, sizeof bits);
        return _mm_cvtsi64_si128(bits);
    }
    static V load_i8(const std::int8_t* p) {
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(load8(p)));
    }
    static V load_lo4(const std::uint8_t* p) {
        const __m256i x = _mm256_cvtepu8_epi32(load8(p));
        return _mm256_cvtepi32_ps(_mm256_and_si256(x, _mm256_set1_epi32(15)));
    }
    static V load_hi4(const std::uint8_t* p) {
        const __m256i x = _mm256_cvtepu8_epi32(load8(p));
        return _mm256_cvtepi32_ps(_mm256_srli_epi32(x, 4));
    }
    static V load_bit16(std::uint32_t bits, int first) {
        const __m256i shifted =
            _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(bits >> first)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256i bit = _mm256_and_si256(shifted, _mm256_set1_epi32(1));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(bit), _mm256_set1_ps(16.0f));
    }

    // decode kernels (the integer helpers are shared with AVX-512)
#include "model/cpu/simd_int8_256.inl"
    static constexpr int kRegs = 16;
    static constexpr bool kInt8Pairs = false;  // see gemv_pairs
    // W halves at p, p + stride, ... (the first n of them; 0 for the rest), as floats. Reads 4
    // bytes at each, so 2 bytes must follow each half.
    static V load_f16_strided(const std::byte* p, int stride, int n) {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
        const __m256i idx = _mm256_mullo_epi32(lane, _mm256_set1_epi32(stride));
        __m256i g = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(),
                                                reinterpret_cast<const int*>(p), idx, mask, 1);
        g = _mm256_and_si256(g, _mm256_set1_epi32(0xffff));
        return _mm256_cvtph_ps(
            _mm_packus_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1)));
    }
    static F8 f8_f16_strided(const std::byte* p, int stride, int n) {
        return load_f16_strided(p, stride, n);
    }
};
}  // namespace ravel::detail::cpu::RAVEL_AVX2_NS

#define RAVEL_ISA_NS RAVEL_AVX2_NS
#include "model/cpu/simd_kernels.inl"
