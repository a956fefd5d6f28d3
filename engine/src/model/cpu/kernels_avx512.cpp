// AVX-512 instantiation of the matrix kernels (compiled with -mavx512f -mavx512bw -mavx512vl
// -mfma -mf16c; only called when the CPU reports those features). kernels_avx512vnni.cpp
// compiles this file a second time with -mavx512vnni, into its own namespace.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model/interleave.hpp"

#ifndef RAVEL_AVX512_NS
#define RAVEL_AVX512_NS avx512
#endif
#if defined(__AVX512VNNI__)
#define RAVEL_AVX512_NAME "avx512vnni"
#define RAVEL_AVX512_INT8_PAIRS true
#else
#define RAVEL_AVX512_NAME "avx512"
#define RAVEL_AVX512_INT8_PAIRS false
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
    // decode kernels (the 256-bit integer helpers are shared with AVX2)
#include "model/cpu/simd_int8_256.inl"
    static constexpr int kRegs = 32;
    static constexpr bool kInt8Pairs = RAVEL_AVX512_INT8_PAIRS;  // see gemv_pairs
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
    // 8 halves at p, p + stride, ... (the first n; 0 for the rest), as floats.
    static F8 f8_f16_strided(const std::byte* p, int stride, int n) {
        const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                               _mm256_set1_epi32(stride));
        const __mmask8 mask =
            n >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << n) - 1);
        const __m256i g = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), mask, idx, p, 1);
        return _mm256_cvtph_ps(_mm256_cvtepi32_epi16(g));
    }
#if defined(__AVX512VNNI__)
    // Two q4_0 blocks A, B per 512-bit vector (gemv_pairs): 4-byte groups alternate
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
    // Two 32-byte blocks with their 4-byte groups alternating (A, B, A, B, ...).
    static __m512i interleave_pair(const void* qa, const void* qb) {
        const __m512i a =
            _mm512_castsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(qa)));
        const __m512i b =
            _mm512_castsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(qb)));
        const __m512i idx =
            _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        return _mm512_permutex2var_epi32(a, idx, b);
    }
    // Two blocks of quantized activations (32 bytes each) in q4_pair_bytes' order.
    static void x_pair(const std::int8_t* qa, const std::int8_t* qb, std::int8_t* out) {
        _mm512_storeu_si512(out, interleave_pair(qa, qb));
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
    // Two q8_0 blocks in x_pair's order, offset to unsigned (w + 128) for vpdpbusd;
    // q8_pair_bias takes the offset back out.
    static B64 q8_pair_bytes(const std::uint8_t* qa, const std::uint8_t* qb) {
        return _mm512_xor_si512(interleave_pair(qa, qb), _mm512_set1_epi8(static_cast<char>(0x80)));
    }
    // -128 * x summed into the lanes.
    static D16 q8_pair_bias(const std::int8_t* xpair) {
        return _mm512_sub_epi32(
            _mm512_setzero_si512(),
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(0x80)),
                                load_b64(xpair)));
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
    static float f16_sum(F16 v) {
        return _mm512_reduce_add_ps(v);
    }
    static float f16_sum_q4(F16 v) {
        const __m512 k = _mm512_setr_ps(1, 1, 1, 1, 1, 1, 1, 1, 0.0625f, 0.0625f, 0.0625f, 0.0625f,
                                        0.0625f, 0.0625f, 0.0625f, 0.0625f);
        return _mm512_reduce_add_ps(_mm512_mul_ps(v, k));
    }
    // One group of 16 interleaved rows (model/interleave.hpp) against NT tokens over nb
    // blocks: out[t * 16 + i] = sum_b d_w(i, b) d_x(t, b) (integer dot of block b + bias), and
    // for q5_1 + m_w(i, b) d_x(t, b) bias (the block's sum of activations). Each 64-byte line is
    // one load whose 32-bit lanes are the 16 rows; the activations' 4 matching bytes are
    // broadcast to every lane. xq: token t's int8 activations at t * xstride; dx, bias: token
    // t's block values at t * stride. `pf` runs `ahead` of the quants, for the prefetches.
    template <DType Type, int NT>
    static void x16_group(const std::byte* scales, const std::byte* quants, int nb,
                          const std::int8_t* xq, std::size_t xstride, const float* dx,
                          const std::int32_t* bias, std::size_t stride, const char* pf,
                          float* out) {
        constexpr bool kQ4 = Type == DType::Q4_0;
        constexpr bool kQ5 = Type == DType::Q5_1;
        constexpr int kLines = interleave_lines(Type);
        constexpr int kScaleStride = interleave_scale_stride(Type);
        const __m512i low4 = _mm512_set1_epi8(0x0f);
        __m512 acc[NT];
        for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
        for (int b = 0; b < nb; ++b) {
            const std::byte* q = quants + static_cast<std::size_t>(b) * kLines * 64;
            // Into L2 (T1). Into L1 (T0) they presumably tie up the core's few L1 miss
            // buffers: q4_0 3072 x 768 products over 85 MB on 2 threads, paired with read passes
            // (12 alternating runs), read at 0.44-0.65 of the pass rate against 0.90-1.00.
            // Non-temporal ones made v7 0.1B q4_0 tokens 3.7-4.2 ms against 2.8-3.5.
            for (int l = 0; l < kLines; ++l) {
                _mm_prefetch(pf + static_cast<std::size_t>(b) * kLines * 64 + l * 64, _MM_HINT_T1);
            }
            __m512i i0[NT], i1[NT];
            const std::int32_t* xb[NT];
            for (int t = 0; t < NT; ++t) {
                i0[t] = kQ5 ? _mm512_setzero_si512() : _mm512_set1_epi32(bias[t * stride + b]);
                i1[t] = _mm512_setzero_si512();
                xb[t] = reinterpret_cast<const std::int32_t*>(xq + t * xstride + b * 32);
            }
            if constexpr (kQ4) {
                for (int s = 0; s < 4; ++s) {
                    const __m512i v = _mm512_loadu_si512(q + s * 64);
                    const __m512i lo = _mm512_and_si512(v, low4);
                    const __m512i hi = _mm512_andnot_si512(low4, v);  // 16 x the high nibble
                    for (int t = 0; t < NT; ++t) {
                        i0[t] = _mm512_dpbusd_epi32(i0[t], lo, _mm512_set1_epi32(xb[t][s]));
                        i1[t] = _mm512_dpbusd_epi32(i1[t], hi, _mm512_set1_epi32(xb[t][4 + s]));
                    }
                }
            } else if constexpr (kQ5) {
                // Step s's fifth bits: the high-bit line shifted to put bit s (low nibbles) or
                // bit 4 + s (high nibbles) of each byte at bit 4.
                const __m512i h = _mm512_loadu_si512(q + 4 * 64);
                const __m512i shifted[8] = {_mm512_slli_epi32(h, 4),
                                            _mm512_slli_epi32(h, 3),
                                            _mm512_slli_epi32(h, 2),
                                            _mm512_slli_epi32(h, 1),
                                            h,
                                            _mm512_srli_epi32(h, 1),
                                            _mm512_srli_epi32(h, 2),
                                            _mm512_srli_epi32(h, 3)};
                const __m512i bit4 = _mm512_set1_epi8(0x10);
                for (int s = 0; s < 4; ++s) {
                    const __m512i v = _mm512_loadu_si512(q + s * 64);
                    // (a & c) | b: the nibble and its fifth bit in one instruction.
                    const __m512i lo = _mm512_ternarylogic_epi32(
                        v, _mm512_and_si512(shifted[s], bit4), low4, 0xEC);
                    const __m512i hi = _mm512_ternarylogic_epi32(
                        _mm512_srli_epi16(v, 4), _mm512_and_si512(shifted[4 + s], bit4), low4,
                        0xEC);
                    for (int t = 0; t < NT; ++t) {
                        i0[t] = _mm512_dpbusd_epi32(i0[t], lo, _mm512_set1_epi32(xb[t][s]));
                        i1[t] = _mm512_dpbusd_epi32(i1[t], hi, _mm512_set1_epi32(xb[t][4 + s]));
                    }
                }
            } else {
                for (int s = 0; s < 8; s += 2) {
                    const __m512i v0 = _mm512_loadu_si512(q + s * 64);
                    const __m512i v1 = _mm512_loadu_si512(q + s * 64 + 64);
                    for (int t = 0; t < NT; ++t) {
                        i0[t] = _mm512_dpbusd_epi32(i0[t], v0, _mm512_set1_epi32(xb[t][s]));
                        i1[t] = _mm512_dpbusd_epi32(i1[t], v1, _mm512_set1_epi32(xb[t][s + 1]));
                    }
                }
            }
            const std::byte* sb = scales + b * kScaleStride;
            const __m512 dw =
                _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb)));
            for (int t = 0; t < NT; ++t) {
                const float dxt = dx[t * stride + b];
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(dxt));
                // q4_0's high-nibble sums are 16 times too large, so exact multiples of 16.
                const __m512i hi = kQ4 ? _mm512_srai_epi32(i1[t], 4) : i1[t];
                acc[t] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0[t], hi)), scale, acc[t]);
            }
            if constexpr (kQ5) {
                const __m512 mw =
                    _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 32)));
                for (int t = 0; t < NT; ++t) {
                    const float sum_x =
                        dx[t * stride + b] * static_cast<float>(bias[t * stride + b]);
                    acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(sum_x), acc[t]);
                }
            }
        }
        for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + t * 16, acc[t]);
    }
#endif
};
}  // namespace ravel::detail::cpu::RAVEL_AVX512_NS

#define RAVEL_ISA_NS RAVEL_AVX512_NS
#include "model/cpu/simd_kernels.inl"
