// The decode kernels' 256-bit integer helpers, shared by the AVX2 and AVX-512 instantiations:
// integer dot products of one 32-value block (weights against activations quantized to int8)
// and the float side of a row's partial sums. Included inside `struct S` of
// kernels_avx2.cpp and kernels_avx512.cpp (both compiled with AVX2), so each keeps its own
// copy under its own namespace. Where AVX-512 VNNI is available, gemv_pairs takes q8_0 and
// q4_0 two blocks at a time instead and these block dots are not used.
// The includer provides S::kRegs, kInt8Pairs, load_f16_strided and f8_f16_strided.

using B32 = __m256i;  // 32 bytes: one block's weights or activations
using D8 = __m256i;   // 8 int32 partial sums of one block's dot product
using F8 = __m256;    // 8 float partial sums of a row
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
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
}
// acc + sum(w * x), both signed.
static D8 dot_q8(B32 w, B32 x, D8 acc) {
    // |w| as unsigned, the sign moved onto x (|w| <= 128: pairs stay inside int16).
    return _mm256_add_epi32(
        acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)),
                               _mm256_set1_epi16(1)));
}
static D8 d8_zero() {
    return _mm256_setzero_si256();
}
// -8 * x summed into dot_u4's lanes (q4_0's offset).
static D8 q4_bias(B32 x) {
    return _mm256_sub_epi32(_mm256_setzero_si256(), dot_u4(_mm256_set1_epi8(8), x, d8_zero()));
}
// 256-bit on AVX-512 too: mixing 512-bit instructions into these kernels takes a vector port
// away from them (q8_0 3072 x 768, 1 thread: 0.119 -> 0.095 ms).
static constexpr int kF8Lanes = 8;
static F8 f8_zero() {
    return _mm256_setzero_ps();
}
static F8 f8_load(const float* p) {
    return _mm256_loadu_ps(p);
}
static void f8_store(float* p, F8 v) {
    _mm256_storeu_ps(p, v);
}
static F8 f8_mul(F8 a, F8 b) {
    return _mm256_mul_ps(a, b);
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
    (void)pack_block(x, block_inverse(x, d), q);
}
// The same, returning sum(q) (the interleaved kernels need it per block), from the packed
// bytes still in a register. Summing the stored bytes again cost a reload and four widenings
// (thread 0 of a v7 0.1B q4_0 decode: 0.65 -> 0.49 us per quantization, 47 -> 36 us per token).
static int quantize_block_sum(const float* x, std::int8_t* q, float* d) {
    return byte_sum(pack_block(x, block_inverse(x, d), q));
}
// Stores the block's scale in d and returns 1 / d (0 for a block that counts as zero).
static float block_inverse(const float* x, float* d) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * i)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    const float amax = _mm_cvtss_f32(h);
    // A block under 1e-20 counts as zero: 1 / d could overflow, and d_w * d_x would be
    // subnormal (slow on x86); next to any real activation it is zero anyway.
    const float scale = amax >= 1e-20f ? amax / 127.0f : 0.0f;
    *d = scale;
    return scale != 0.0f ? 1.0f / scale : 0.0f;
}
// q = round(x * inv) for one block of 32, stored and returned.
static __m256i pack_block(const float* x, float inv, std::int8_t* q) {
    const __m256 iv = _mm256_set1_ps(inv);
    __m256i n[4];
    for (int i = 0; i < 4; ++i)
        n[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * i), iv));
    // packs work per 128-bit lane; the permute restores the order.
    const __m256i w16a = _mm256_packs_epi32(n[0], n[1]);
    const __m256i w16b = _mm256_packs_epi32(n[2], n[3]);
    const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w16a, w16b),
                                                  _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), b);
    return b;
}
// The sum of 32 signed bytes: a sum of absolute differences of the unsigned bytes b + 128
// against zero.
static int byte_sum(__m256i b) {
    const __m256i sums = _mm256_sad_epu8(
        _mm256_xor_si256(b, _mm256_set1_epi8(static_cast<char>(0x80))), _mm256_setzero_si256());
    __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
    s2 = _mm_add_epi64(s2, _mm_unpackhi_epi64(s2, s2));
    return _mm_cvtsi128_si32(s2) - 32 * 128;
}

// quantize_block_sum over nb consecutive blocks, with each block's bias factor * sum(q) into
// bias[b]. Eight blocks at a time: their maxima reduced together through interleaving shuffles
// (one vector of eight maxima instead of eight horizontal reductions) and their scales from two
// vector divisions instead of sixteen scalar ones; the results are the same bits.
static void quantize_blocks(const float* x, int nb, std::int8_t* q, float* d, std::int32_t* bias,
                            int factor) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int b = 0;
    for (; b + 8 <= nb; b += 8) {
        const float* xb = x + b * 32;
        __m256 m[8];
        for (int j = 0; j < 8; ++j) {
            const float* xj = xb + j * 32;
            const __m256 a0 = _mm256_andnot_ps(sign, _mm256_loadu_ps(xj));
            const __m256 a1 = _mm256_andnot_ps(sign, _mm256_loadu_ps(xj + 8));
            const __m256 a2 = _mm256_andnot_ps(sign, _mm256_loadu_ps(xj + 16));
            const __m256 a3 = _mm256_andnot_ps(sign, _mm256_loadu_ps(xj + 24));
            m[j] = _mm256_max_ps(_mm256_max_ps(a0, a1), _mm256_max_ps(a2, a3));
        }
        // Eight vectors to one holding block j's maximum in lane j: pairs interleaved, then
        // pairs of pairs, then the 128-bit halves.
        __m256 p[4], r[2];
        for (int j = 0; j < 4; ++j) {
            p[j] = _mm256_max_ps(_mm256_unpacklo_ps(m[2 * j], m[2 * j + 1]),
                                 _mm256_unpackhi_ps(m[2 * j], m[2 * j + 1]));
        }
        for (int j = 0; j < 2; ++j) {
            r[j] = _mm256_max_ps(_mm256_shuffle_ps(p[2 * j], p[2 * j + 1], 0x44),
                                 _mm256_shuffle_ps(p[2 * j], p[2 * j + 1], 0xEE));
        }
        // r[0] lanes: blocks 0 1 2 3 (low half) and again (high half), each a partial maximum;
        // r[1] the same for blocks 4..7.
        const __m256 amax = _mm256_max_ps(_mm256_permute2f128_ps(r[0], r[1], 0x20),
                                          _mm256_permute2f128_ps(r[0], r[1], 0x31));
        const __m256 scale = _mm256_and_ps(_mm256_div_ps(amax, _mm256_set1_ps(127.0f)),
                                           _mm256_cmp_ps(amax, _mm256_set1_ps(1e-20f), _CMP_GE_OQ));
        const __m256 inv = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), scale),
                                         _mm256_cmp_ps(scale, _mm256_setzero_ps(), _CMP_NEQ_OQ));
        _mm256_storeu_ps(d + b, scale);
        alignas(32) float invs[8];
        _mm256_store_ps(invs, inv);
        for (int j = 0; j < 8; ++j) {
            bias[b + j] = factor * byte_sum(pack_block(xb + j * 32, invs[j], q + (b + j) * 32));
        }
    }
    for (; b < nb; ++b) bias[b] = factor * quantize_block_sum(x + b * 32, q + b * 32, d + b);
}

#if !defined(__AVX512VNNI__)
// One group of 16 interleaved rows (model/interleave.hpp), as the AVX-512 VNNI x16_group
// computes it, on two 8-row halves of each 64-byte line. With AVX-VNNI (the VEX-encoded
// 256-bit vpdpbusd of CPUs without AVX-512, such as Intel's since Alder Lake) each step is
// one vpdpbusd on the unsigned weights, starting from `bias`. Without it, vpmaddubsw +
// vpmaddwd: q4_0's nibbles start from `bias` as well, while q8_0 is taken back to signed (its
// offset would overflow vpmaddubsw's 16-bit pairs) with the sign moved onto the activations,
// so its bias is not used.
#if defined(__AVXVNNI__) && !defined(__AVX512F__)
static constexpr bool kVnni256 = true;
#else
static constexpr bool kVnni256 = false;
#endif
static constexpr bool kX16 = true;
// Sequence mode through x16_group: with AVX-VNNI, v7 0.1B prompts 30% faster than staging
// floats for the GEMM; with vpmaddubsw, q4_0 7% faster and q8_0 no faster
// (RAVEL_CPU_ISA=avx2); with AVX-512 (no VNNI) the 512-bit float GEMM is a third faster, so
// that table keeps it.
#if defined(__AVX512F__)
static constexpr bool kX16Gemm = false;
#else
static constexpr bool kX16Gemm = true;
#endif
// acc + the 4-byte dot products of unsigned w (< 128 without VNNI) and signed x.
static __m256i dot4(__m256i acc, __m256i w, __m256i x) {
    if constexpr (kVnni256) {
#if defined(__AVXVNNI__)
        return _mm256_dpbusd_avx_epi32(acc, w, x);
#endif
    }
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
}
template <DType Type, int NT>
static void x16_group(const std::byte* scales, const std::byte* quants, int nb,
                      const std::int8_t* xq, std::size_t xstride, const float* dx,
                      const std::int32_t* bias, std::size_t stride, const char* pf, float* out) {
    constexpr bool Q4 = Type == DType::Q4_0;
    constexpr bool kQ5 = Type == DType::Q5_1;
    constexpr int kSteps = interleave_steps(Type);
    constexpr int kLines = interleave_lines(Type);
    constexpr int kScaleStride = interleave_scale_stride(Type);
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256 acc[NT][2];
    for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int b = 0; b < nb; ++b) {
        const std::byte* q = quants + static_cast<std::size_t>(b) * kLines * 64;
        for (int l = 0; l < kLines; ++l) {
            _mm_prefetch(pf + static_cast<std::size_t>(b) * kLines * 64 + l * 64, _MM_HINT_T1);
        }
        const std::int32_t* xb[NT];
        for (int t = 0; t < NT; ++t)
            xb[t] = reinterpret_cast<const std::int32_t*>(xq + t * xstride + b * 32);
        for (int h = 0; h < 2; ++h) {  // rows 8h .. 8h + 7
            // With VNNI two chains per token, so a block's dependent dot products overlap.
            // Without it q8_0 keeps one (a second one's registers would spill: 16 vector
            // registers), and q4_0 sums the block in 16 bits in `hi`, widened into `lo` after.
            __m256i lo[NT], hi[NT];
            for (int t = 0; t < NT; ++t) {
                lo[t] = (Q4 || kVnni256) && !kQ5 ? _mm256_set1_epi32(bias[t * stride + b])
                                                 : _mm256_setzero_si256();
                hi[t] = _mm256_setzero_si256();
            }
            // q5_1's fifth bits of these 8 rows (model/interleave.hpp).
            __m256i high = _mm256_setzero_si256();
            if constexpr (kQ5) {
                high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 4 * 64 + h * 32));
            }
            for (int s = 0; s < kSteps; ++s) {
                const __m256i v =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + s * 64 + h * 32));
                if constexpr (kQ5) {
                    // Each step's weights as bytes 0..31: the nibble, and its fifth bit moved
                    // from bit s (low nibbles) or 4 + s (high nibbles) to bit 4. Pairs of
                    // products stay under 2 * 31 * 127, so vpmaddubsw cannot saturate.
                    const __m256i bit4 = _mm256_set1_epi8(0x10);
                    const __m256i fifth_lo = _mm256_and_si256(_mm256_slli_epi32(high, 4 - s), bit4);
                    const __m256i fifth_hi = _mm256_and_si256(_mm256_srli_epi32(high, s), bit4);
                    const __m256i wl = _mm256_or_si256(_mm256_and_si256(v, low4), fifth_lo);
                    const __m256i wh =
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), fifth_hi);
                    for (int t = 0; t < NT; ++t) {
                        lo[t] = dot4(lo[t], wl, _mm256_set1_epi32(xb[t][s]));
                        hi[t] = dot4(hi[t], wh, _mm256_set1_epi32(xb[t][4 + s]));
                    }
                } else if constexpr (Q4 && kVnni256) {
                    const __m256i wl = _mm256_and_si256(v, low4);
                    const __m256i wh = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                    for (int t = 0; t < NT; ++t) {
                        lo[t] = dot4(lo[t], wl, _mm256_set1_epi32(xb[t][s]));
                        hi[t] = dot4(hi[t], wh, _mm256_set1_epi32(xb[t][4 + s]));
                    }
                } else if constexpr (Q4) {
                    // vpmaddubsw's pairs of nibble products stay under 2 * 15 * 127 = 3810, so
                    // the block's eight add up in 16 bits (30480) and one vpmaddwd per block
                    // widens them, instead of one per step.
                    const __m256i wl = _mm256_and_si256(v, low4);
                    const __m256i wh = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                    for (int t = 0; t < NT; ++t) {
                        hi[t] = _mm256_add_epi16(
                            hi[t], _mm256_add_epi16(
                                       _mm256_maddubs_epi16(wl, _mm256_set1_epi32(xb[t][s])),
                                       _mm256_maddubs_epi16(wh, _mm256_set1_epi32(xb[t][4 + s]))));
                    }
                } else if constexpr (kVnni256) {  // weights stored as q + 128
                    for (int t = 0; t < NT; ++t) {
                        __m256i& chain = s % 2 == 0 ? lo[t] : hi[t];
                        chain = dot4(chain, v, _mm256_set1_epi32(xb[t][s]));
                    }
                } else {
                    const __m256i w = _mm256_xor_si256(v, offset);
                    const __m256i aw = _mm256_abs_epi8(w);
                    for (int t = 0; t < NT; ++t)
                        lo[t] = dot4(lo[t], aw, _mm256_sign_epi8(_mm256_set1_epi32(xb[t][s]), w));
                }
            }
            if constexpr (Q4 && !kVnni256) {
                for (int t = 0; t < NT; ++t) {
                    lo[t] = _mm256_add_epi32(lo[t], _mm256_madd_epi16(hi[t], _mm256_set1_epi16(1)));
                    hi[t] = _mm256_setzero_si256();
                }
            }
            const std::byte* sb = scales + b * kScaleStride + h * 16;
            const __m256 dw =
                _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb)));
            for (int t = 0; t < NT; ++t) {
                const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(dx[t * stride + b]));
                acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(lo[t], hi[t])),
                                            scale, acc[t][h]);
            }
            if constexpr (kQ5) {  // + the rows' minima times the block's sum of activations
                const __m256 mw =
                    _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 32)));
                for (int t = 0; t < NT; ++t) {
                    const float sum_x =
                        dx[t * stride + b] * static_cast<float>(bias[t * stride + b]);
                    acc[t][h] = _mm256_fmadd_ps(mw, _mm256_set1_ps(sum_x), acc[t][h]);
                }
            }
        }
    }
    for (int t = 0; t < NT; ++t) {
        _mm256_storeu_ps(out + t * 16, acc[t][0]);
        _mm256_storeu_ps(out + t * 16 + 8, acc[t][1]);
    }
}
#else
static constexpr bool kX16 = true;  // x16_group: the VNNI one (kernels_avx512.cpp)
// Sequence mode through x16_group: v7 0.1B prompts 1.7-1.8x as fast as the float GEMM.
static constexpr bool kX16Gemm = true;
#endif
