// Portable instantiation of the matrix kernels: 8-wide arrays the compiler maps to whatever
// baseline x86-64 (SSE2) or other CPU offers.
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
};
}  // namespace ravel::detail::cpu::generic

#define RAVEL_ISA_NS generic
#include "model/cpu/simd_kernels.inl"
