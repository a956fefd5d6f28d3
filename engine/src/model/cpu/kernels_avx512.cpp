// AVX-512 instantiation of the matrix kernels (compiled with -mavx512f -mavx512bw -mavx512vl
// -mfma -mf16c; only called when the CPU reports those features). kernels_avx512vnni.cpp
// compiles this file a second time with -mavx512vnni, into its own namespace.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#ifndef RAVEL_AVX512_NS
#define RAVEL_AVX512_NS avx512
#endif
#if defined(__AVX512VNNI__)
#define RAVEL_AVX512_NAME "avx512vnni"
// With VNNI, w + 128 is the unsigned operand of vpdpbusd (one xor instead of abs + sign).
#define RAVEL_AVX512_Q8_OFFSET 128
#define RAVEL_AVX512_Q4_PAIRS true
#else
#define RAVEL_AVX512_NAME "avx512"
#define RAVEL_AVX512_Q8_OFFSET 0
#define RAVEL_AVX512_Q4_PAIRS false
#endif

namespace ravel::detail::cpu::RAVEL_AVX512_NS {
struct S {
    static constexpr const char* kName = RAVEL_AVX512_NAME;
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
    // decode kernels: integer dot products of one 32-value block (weights against activations
    // quantized to int8), on 256-bit vectors.
    using B32 = __m256i;  // 32 bytes: one block's weights or activations
    using D8 = __m256i;   // 8 int32 partial sums of one block's dot product
    using F8 = __m256;    // 8 float partial sums of a row
    static constexpr int kRegs = 32;
    // dot_q8 returns sum((w + kQ8Offset) * x); the kernel subtracts kQ8Offset * sum(x).
    static constexpr int kQ8Offset = RAVEL_AVX512_Q8_OFFSET;
    static constexpr bool kQ4Pairs = RAVEL_AVX512_Q4_PAIRS;  // see gemv_q4_pairs
    static B32 load_b32(const void* p) {
        return _mm256_loadu_si256(static_cast<const __m256i*>(p));
    }
    // 16 bytes of q4_0 nibbles -> 32 unsigned values 0..15 (low nibbles first, as stored).
    // (With VNNI, q4_0 takes gemv_q4_pairs instead.)
    static B32 q4_bytes(const std::uint8_t* qs) {
        const __m256i v =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
        return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)),
                                _mm256_set1_epi8(15));
    }
    // -8 * x summed into dot_u4's lanes (q4_0's offset).
    static D8 q4_bias(B32 x) { return offset_bias(x, 8); }
    // acc + sum(w * x), w unsigned < 128, x signed (pairs stay inside int16: 2 * 127 * 127).
    static D8 dot_u4(B32 w, B32 x, D8 acc) {
#if defined(__AVX512VNNI__)
        return _mm256_dpbusd_epi32(acc, w, x);
#else
        return _mm256_add_epi32(
            acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
#endif
    }
    // acc + sum((w + kQ8Offset) * x), both signed.
    static D8 dot_q8(B32 w, B32 x, D8 acc) {
#if defined(__AVX512VNNI__)
        return _mm256_dpbusd_epi32(acc, _mm256_xor_si256(w, _mm256_set1_epi8(-128)), x);
#else
        // |w| as unsigned, the sign moved onto x (|w| <= 128: pairs stay inside int16).
        return _mm256_add_epi32(
            acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)),
                                   _mm256_set1_epi16(1)));
#endif
    }
    static D8 d8_zero() {
        return _mm256_setzero_si256();
    }
    // -offset * x, summed into the lanes dot_u4 / dot_q8 use (offset <= 128).
    static D8 offset_bias(B32 x, int offset) {
        return _mm256_sub_epi32(_mm256_setzero_si256(),
                                dot_u4(_mm256_set1_epi8(static_cast<char>(offset)), x, d8_zero()));
    }
    // W halves at p, p + stride, ... (the first n of them; 0 for the rest), as floats. Reads 4
    // bytes at each, so 2 bytes must follow each half.
    static V load_f16_strided(const std::byte* p, int stride, int n) {
        const __m512i lane =
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __mmask16 mask =
            n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
        const __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32(stride));
        const __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, idx, p, 1);
        return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
    }
    static F8 f8_zero() {
        return _mm256_setzero_ps();
    }
    // 256-bit, like the rest of the 256-bit kernels: mixing in 512-bit instructions takes a
    // vector port away from them (q8_0 3072 x 768, 1 thread: 0.119 -> 0.095 ms).
    static constexpr int kF8Lanes = 8;
    static F8 f8_load(const float* p) {
        return _mm256_loadu_ps(p);
    }
    static void f8_store(float* p, F8 v) {
        _mm256_storeu_ps(p, v);
    }
    static F8 f8_mul(F8 a, F8 b) {
        return _mm256_mul_ps(a, b);
    }
    // 8 halves at p, p + stride, ... (the first n; 0 for the rest), as floats.
    static F8 f8_f16_strided(const std::byte* p, int stride, int n) {
        const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                               _mm256_set1_epi32(stride));
        const __mmask8 mask =
            n >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << n) - 1);
        const __m256i g = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), mask, idx, p, 1);
        return _mm256_cvtph_ps(_mm256_cvtepi32_epi16(g));
    }
    static F8 f8_fma(D8 d, float s, F8 acc) {
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(s), acc);
    }
    static float f8_sum(F8 v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        return _mm_cvtss_f32(s);
    }
    static float f8_sum_q4(F8 v) {
        return f8_sum(v);
    }
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
#if defined(__AVX512VNNI__)
    // Two q4_0 blocks A, B per 512-bit vector (gemv_q4_pairs): 4-byte groups alternate
    // A, B, ...; the low 256 bits hold the low nibbles, the high 256 bits the high nibbles in
    // place (16x, divided out in f16_sum_q4).
    using B64 = __m512i;
    using D16 = __m512i;
    using F16 = __m512;
    static B64 load_b64(const void* p) {
        return _mm512_loadu_si512(p);
    }
    static B64 q4_pair_bytes(const std::uint8_t* qa, const std::uint8_t* qb) {
        const __m512i a =
            _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qa)));
        const __m512i b =
            _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qb)));
        const __m512i idx =
            _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 0, 16, 1, 17, 2, 18, 3, 19);
        const __m512i mask = _mm512_setr_epi64(
            0x0f0f0f0f0f0f0f0f, 0x0f0f0f0f0f0f0f0f, 0x0f0f0f0f0f0f0f0f, 0x0f0f0f0f0f0f0f0f,
            static_cast<long long>(0xf0f0f0f0f0f0f0f0), static_cast<long long>(0xf0f0f0f0f0f0f0f0),
            static_cast<long long>(0xf0f0f0f0f0f0f0f0), static_cast<long long>(0xf0f0f0f0f0f0f0f0));
        return _mm512_and_si512(_mm512_permutex2var_epi32(a, idx, b), mask);
    }
    // Two blocks of quantized activations (32 bytes each) in q4_pair_bytes' order.
    static void x_pair(const std::int8_t* qa, const std::int8_t* qb, std::int8_t* out) {
        const __m512i a =
            _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa)));
        const __m512i b =
            _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qb)));
        const __m512i idx =
            _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        _mm512_storeu_si512(out, _mm512_permutex2var_epi32(a, idx, b));
    }
    // -8 * x summed into the lanes, as q4_pair_bytes lays the weights out.
    static D16 q4_pair_bias(const std::int8_t* xpair) {
        const __m512i eights = _mm512_setr_epi64(
            0x0808080808080808, 0x0808080808080808, 0x0808080808080808, 0x0808080808080808,
            static_cast<long long>(0x8080808080808080), static_cast<long long>(0x8080808080808080),
            static_cast<long long>(0x8080808080808080), static_cast<long long>(0x8080808080808080));
        return _mm512_sub_epi32(
            _mm512_setzero_si512(),
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), eights, load_b64(xpair)));
    }
    static D16 dot_pair(B64 w, B64 x, D16 acc) {
        return _mm512_dpbusd_epi32(acc, w, x);
    }
    static F16 f16_zero() {
        return _mm512_setzero_ps();
    }
    // acc + dot * (s[0], s[1], s[0], s[1], ...): the two blocks' scales.
    static F16 f16_fma(D16 dot, const float* s, F16 acc) {
        double pair;
        std::memcpy(&pair, s, sizeof pair);
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_castpd_ps(_mm512_set1_pd(pair)),
                               acc);
    }
    static float f16_sum_q4(F16 v) {
        const __m512 k = _mm512_setr_ps(1, 1, 1, 1, 1, 1, 1, 1, 0.0625f, 0.0625f, 0.0625f, 0.0625f,
                                        0.0625f, 0.0625f, 0.0625f, 0.0625f);
        return _mm512_reduce_add_ps(_mm512_mul_ps(v, k));
    }
#endif
};
}  // namespace ravel::detail::cpu::RAVEL_AVX512_NS

#define RAVEL_ISA_NS RAVEL_AVX512_NS
#include "model/cpu/simd_kernels.inl"
