// Portable instantiation of the matrix kernels: 8-wide arrays the compiler maps to whatever
// baseline x86-64 (SSE2) or other CPU offers.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ravel/tensor.hpp"

namespace ravel::detail::cpu::generic {
struct S {
    static constexpr const char* kName = "generic";
    // GEMM micro-tile (output rows x token vectors)
    static constexpr int kGemmRows = 6;
    static constexpr int kGemmTokenVecs = 2;
    // dst[j * ld_dst + i] = src[i * ld_src + j] for a W x W block (GEMM packing of X).
    static void transpose(const float* src, std::size_t ld_src, float* dst, std::size_t ld_dst) {
        for (int i = 0; i < 8; ++i)
            for (int j = 0; j < 8; ++j) dst[j * ld_dst + i] = src[i * ld_src + j];
    }
    static constexpr int W = 8;
    struct V {
        float v[8];
    };
    static float half_to_float(std::uint16_t h) { return f16_to_f32(h); }
    static V zero() { return V{}; }
    static V load(const float* p) {
        V r;
        std::memcpy(r.v, p, sizeof r.v);
        return r;
    }
    static void store(float* p, V v) { std::memcpy(p, v.v, sizeof v.v); }
    static V set1(float f) {
        V r;
        for (float& x : r.v) x = f;
        return r;
    }
    template <class Op>
    static V map2(V a, V b, Op op) {
        V r;
        for (int i = 0; i < 8; ++i) r.v[i] = op(a.v[i], b.v[i]);
        return r;
    }
    static V add(V a, V b) {
        return map2(a, b, [](float x, float y) { return x + y; });
    }
    static V sub(V a, V b) {
        return map2(a, b, [](float x, float y) { return x - y; });
    }
    static V mul(V a, V b) {
        return map2(a, b, [](float x, float y) { return x * y; });
    }
    static V fma(V a, V b, V c) {
        V r;
        for (int i = 0; i < 8; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
        return r;
    }
    static float sum(V a) {
        return ((a.v[0] + a.v[1]) + (a.v[2] + a.v[3])) + ((a.v[4] + a.v[5]) + (a.v[6] + a.v[7]));
    }
    static V load_f16(const std::uint16_t* p) {
        V r;
        for (int i = 0; i < 8; ++i) r.v[i] = f16_to_f32(p[i]);
        return r;
    }
    static V load_bf16(const std::uint16_t* p) {
        V r;
        for (int i = 0; i < 8; ++i) r.v[i] = bf16_to_f32(p[i]);
        return r;
    }
    static V load_i8(const std::int8_t* p) {
        V r;
        for (int i = 0; i < 8; ++i) r.v[i] = p[i];
        return r;
    }
    static V load_lo4(const std::uint8_t* p) {
        V r;
        for (int i = 0; i < 8; ++i) r.v[i] = static_cast<float>(p[i] & 15);
        return r;
    }
    static V load_hi4(const std::uint8_t* p) {
        V r;
        for (int i = 0; i < 8; ++i) r.v[i] = static_cast<float>(p[i] >> 4);
        return r;
    }
    static V load_bit16(std::uint32_t bits, int first) {
        V r;
        for (int i = 0; i < 8; ++i) r.v[i] = ((bits >> (first + i)) & 1u) ? 16.0f : 0.0f;
        return r;
    }

    // decode kernels: integer dot products of one 32-value block (weights against activations
    // quantized to int8), one scalar at a time.
    struct B32 {
        std::int8_t v[32];
    };
    using D8 = std::int32_t;
    using F8 = float;
    static constexpr int kRegs = 16;
    static constexpr bool kInt8Pairs = false;  // see gemv_pairs
    static constexpr bool kX16 = false;        // no 16-row kernel (gemv_x16_portable)
    static constexpr bool kX16Gemm = false;
    static B32 load_b32(const void* p) {
        B32 r;
        std::memcpy(r.v, p, sizeof r.v);
        return r;
    }
    // 16 bytes of q4_0 nibbles -> 32 unsigned values 0..15 (low nibbles first, as stored).
    static B32 q4_bytes(const std::uint8_t* qs) {
        B32 r;
        for (int i = 0; i < 16; ++i) {
            r.v[i] = static_cast<std::int8_t>(qs[i] & 15);
            r.v[16 + i] = static_cast<std::int8_t>(qs[i] >> 4);
        }
        return r;
    }
    // acc + sum(w * x) (w unsigned for q4_0, signed for q8_0: the same here).
    static D8 dot_u4(B32 w, B32 x, D8 acc) { return dot_q8(w, x, acc); }
    static D8 dot_q8(B32 w, B32 x, D8 acc) {
        for (int i = 0; i < 32; ++i) acc += w.v[i] * x.v[i];
        return acc;
    }
    static D8 d8_zero() { return 0; }
    // -8 * x summed into dot_u4's lanes (q4_0's offset).
    static D8 q4_bias(B32 x) {
        D8 s = 0;
        for (int i = 0; i < 32; ++i) s += x.v[i];
        return -8 * s;
    }
    static std::uint16_t read_u16(const std::byte* p) {
        std::uint16_t h;
        std::memcpy(&h, p, 2);
        return h;
    }
    static F8 f8_zero() { return 0.0f; }
    static constexpr int kF8Lanes = 1;
    static F8 f8_load(const float* p) { return *p; }
    static void f8_store(float* p, F8 v) { *p = v; }
    static F8 f8_mul(F8 a, F8 b) { return a * b; }
    static F8 f8_f16_strided(const std::byte* p, int /*stride*/, int n) {
        return n > 0 ? half_to_float(read_u16(p)) : 0.0f;
    }
    static F8 f8_fma(D8 d, float s, F8 acc) { return acc + static_cast<float>(d) * s; }
    static float f8_sum_q4(F8 v) { return f8_sum(v); }
    static float f8_sum(F8 v) { return v; }
    // Quantizes 32 activations to int8 with one scale: d = max|x| / 127, q = round(x / d) (to
    // nearest even, as x * (1 / d)); d = 0 and q = 0 when max|x| < 1e-20.
    static void quantize_block(const float* x, std::int8_t* q, float* d) {
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[i]));
        // A block under 1e-20 counts as zero: 1 / d could overflow, and d_w * d_x would be
        // subnormal (slow on x86); next to any real activation it is zero anyway.
        const float scale = amax >= 1e-20f ? amax / 127.0f : 0.0f;
        const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
        *d = scale;
        for (int i = 0; i < 32; ++i) q[i] = static_cast<std::int8_t>(std::nearbyint(x[i] * inv));
    }
    static int quantize_block_sum(const float* x, std::int8_t* q, float* d) {
        quantize_block(x, q, d);
        int sum = 0;
        for (int i = 0; i < 32; ++i) sum += q[i];
        return sum;
    }
    static void quantize_blocks(const float* x, int nb, std::int8_t* q, float* d,
                                std::int32_t* bias, int factor) {
        for (int b = 0; b < nb; ++b) {
            bias[b] = factor * quantize_block_sum(x + b * 32, q + b * 32, d + b);
        }
    }
};
}  // namespace ravel::detail::cpu::generic

#define RAVEL_ISA_NS generic
#include "model/cpu/simd_kernels.inl"
