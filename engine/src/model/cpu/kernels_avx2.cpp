// AVX2 + FMA + F16C instantiation of the matrix kernels.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace ravel::detail::cpu::avx2 {
struct S {
    static constexpr const char* kName = "avx2";
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
    static V load_i8(const std::int8_t* p) {
        return _mm256_cvtepi32_ps(
            _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    }
    static V load_lo4(const std::uint8_t* p) {
        const __m256i x =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
        return _mm256_cvtepi32_ps(_mm256_and_si256(x, _mm256_set1_epi32(15)));
    }
    static V load_hi4(const std::uint8_t* p) {
        const __m256i x =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
        return _mm256_cvtepi32_ps(_mm256_srli_epi32(x, 4));
    }
    static V load_bit16(std::uint32_t bits, int first) {
        const __m256i shifted =
            _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(bits >> first)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256i bit = _mm256_and_si256(shifted, _mm256_set1_epi32(1));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(bit), _mm256_set1_ps(16.0f));
    }

    // decode kernels: integer dot products of one 32-value block (weights against activations
    // quantized to int8), on 256-bit vectors.
    using B32 = __m256i;  // 32 bytes: one block's weights or activations
    using D8 = __m256i;   // 8 int32 partial sums of one block's dot product
    using F8 = __m256;    // 8 float partial sums of a row
    static constexpr int kRegs = 16;
    // dot_q8 returns sum((w + kQ8Offset) * x); the kernel subtracts kQ8Offset * sum(x).
    static constexpr int kQ8Offset = 0;
    static constexpr bool kQ4Pairs = false;  // see gemv_q4_pairs
    static B32 load_b32(const void* p) {
        return _mm256_loadu_si256(static_cast<const __m256i*>(p));
    }
    // 16 bytes of q4_0 nibbles -> 32 unsigned values 0..15 (low nibbles first, as stored).
    static B32 q4_bytes(const std::uint8_t* qs) {
        const __m256i v =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
        return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)),
                                _mm256_set1_epi8(15));
    }
    // acc + sum(w * x), w unsigned < 128, x signed (pairs stay inside int16: 2 * 127 * 127).
    static D8 dot_u4(B32 w, B32 x, D8 acc) {
        return _mm256_add_epi32(
            acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
    }
    // acc + sum(w * x), both signed: |w| as unsigned, the sign moved onto x (|w| <= 128, so
    // pairs stay inside int16).
    static D8 dot_q8(B32 w, B32 x, D8 acc) {
        return _mm256_add_epi32(
            acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)),
                                   _mm256_set1_epi16(1)));
    }
    static D8 d8_zero() { return _mm256_setzero_si256(); }
    // -offset * x, summed into the lanes dot_u4 / dot_q8 use (offset <= 128).
    // -8 * x summed into dot_u4's lanes (q4_0's offset).
    static D8 q4_bias(B32 x) { return offset_bias(x, 8); }
    static D8 offset_bias(B32 x, int offset) {
        return _mm256_sub_epi32(_mm256_setzero_si256(),
                                dot_u4(_mm256_set1_epi8(static_cast<char>(offset)), x, d8_zero()));
    }
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
    static F8 f8_zero() { return _mm256_setzero_ps(); }
    static constexpr int kF8Lanes = 8;
    static F8 f8_load(const float* p) { return _mm256_loadu_ps(p); }
    static void f8_store(float* p, F8 v) { _mm256_storeu_ps(p, v); }
    static F8 f8_mul(F8 a, F8 b) { return _mm256_mul_ps(a, b); }
    static F8 f8_f16_strided(const std::byte* p, int stride, int n) {
        return load_f16_strided(p, stride, n);
    }
    static F8 f8_fma(D8 d, float s, F8 acc) {
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(s), acc);
    }
    static float f8_sum_q4(F8 v) { return f8_sum(v); }
    static float f8_sum(F8 v) { return sum(v); }
    // Quantizes 32 activations to int8 with one scale: d = max|x| / 127, q = round(x / d) (to
    // nearest even, as x * (1 / d)); d = 0 and q = 0 when max|x| < 1e-20.
    static void quantize_block(const float* x, std::int8_t* q, float* d) {
        const __m256 sign = _mm256_set1_ps(-0.0f);
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 4; ++i) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        const float amax = _mm_cvtss_f32(h);
        // A block under 1e-20 counts as zero: 1 / d could overflow, and d_w * d_x would be
        // subnormal (slow on x86); next to any real activation it is zero anyway.
        const float scale = amax >= 1e-20f ? amax / 127.0f : 0.0f;
        const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
        *d = scale;
        const __m256 iv = _mm256_set1_ps(inv);
        __m256i n[4];
        for (int i = 0; i < 4; ++i) n[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], iv));
        // packs work per 128-bit lane; the permute restores the order.
        const __m256i w16a = _mm256_packs_epi32(n[0], n[1]);
        const __m256i w16b = _mm256_packs_epi32(n[2], n[3]);
        const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w16a, w16b),
                                                      _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), b);
    }
};
}  // namespace ravel::detail::cpu::avx2

#define RAVEL_ISA_NS avx2
#include "model/cpu/simd_kernels.inl"
