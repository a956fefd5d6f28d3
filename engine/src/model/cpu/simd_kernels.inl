// The matrix kernels, written once over a SIMD abstraction `S` and instantiated per
// instruction set in kernels_<isa>.cpp (each compiled with its own target flags).
//
// S provides: W (floats per vector), V, zero(), load(const float*), fma(a, b, c), sum(V),
// set1(float), add(V, V), mul(V, V), store(float*, V), load_f16/load_bf16(const uint16_t*),
// load_i8(const int8_t*), load_lo4/load_hi4(const uint8_t*) (W bytes' nibbles),
// load_bit16(uint32_t bits, int first) (16.0f where bit first+lane is set).
// No standard-library templates are used here: an out-of-line copy of one instantiated with
// this file's target flags could be picked by the linker for baseline code.
#include <cstdlib>
#include <cstring>

#include "model/cpu/activation_cache.hpp"
#include "model/cpu/kernels.hpp"
#include "model/interleave.hpp"
#include "ravel/quant.hpp"

namespace ravel::detail::cpu::RAVEL_ISA_NS {

namespace {

// Order matters: the GEMM falls back to the decode kernels.
// clang-format off
#include "model/cpu/simd_blocks.inl"
#include "model/cpu/simd_gemv.inl"
#include "model/cpu/simd_gemm.inl"
// clang-format on
#include "model/cpu/simd_elementwise.inl"

float read_sum(const float* p, std::size_t n) {
    S::V a[4] = {S::zero(), S::zero(), S::zero(), S::zero()};
    std::size_t i = 0;
    for (; i + 4 * S::W <= n; i += 4 * S::W) {
        for (int j = 0; j < 4; ++j) a[j] = S::add(a[j], S::load(p + i + j * S::W));
    }
    float s = S::sum(S::add(S::add(a[0], a[1]), S::add(a[2], a[3])));
    for (; i < n; ++i) s += p[i];
    return s;
}

double fma_loop(long iterations) {
    // Ten independent chains cover the FMA latency on every core this targets.
    constexpr int kChains = 10;
    S::V acc[kChains];
    for (int j = 0; j < kChains; ++j) acc[j] = S::set1(static_cast<float>(j) * 1e-3f);
    const S::V m = S::set1(0.999999f);
    const S::V c = S::set1(1e-7f);
    for (long i = 0; i < iterations; ++i) {
        for (int j = 0; j < kChains; ++j) acc[j] = S::fma(acc[j], m, c);
    }
    S::V total = acc[0];
    for (int j = 1; j < kChains; ++j) total = S::add(total, acc[j]);
    volatile float sink = S::sum(total);
    (void)sink;
    return 2.0 * S::W * kChains * static_cast<double>(iterations);
}

inline float dot_vec(const float* a, const float* b, int n) {
    S::V acc0 = S::zero(), acc1 = S::zero();
    int i = 0;
    for (; i + 2 * S::W <= n; i += 2 * S::W) {
        acc0 = S::fma(S::load(a + i), S::load(b + i), acc0);
        acc1 = S::fma(S::load(a + i + S::W), S::load(b + i + S::W), acc1);
    }
    for (; i + S::W <= n; i += S::W) acc0 = S::fma(S::load(a + i), S::load(b + i), acc0);
    float s = S::sum(S::add(acc0, acc1));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

// Expanding the new row in y_i = S_i' . r, with S_i' = S_i w + sa_i kka + v_i k, gives
//   y_i = S_i . (w r) + sa_i (kka . r) + v_i (k . r):
// both row products read the old row, so the output does not wait for the update's stores
// and the two products share their loads; (kka . r) and (k . r) are computed once per head.
// Each row prefetches the row kWkv7Ahead bytes on (into the next head at the end): in decoding
// the state has been pushed out of L2 by the layer's weights since the last token.
// One core, 12 heads of 64: 12.2 -> 8.3 us with the state in L2, 27-31 -> 21-22 us from L3
// (1 KiB ahead; 0.5, 2 and 4 KiB were slower).
constexpr std::size_t kWkv7Ahead = 1024;
void wkv7_head(float* S, int N, const float* w, const float* kk, const float* kka, const float* k,
               const float* v, const float* r, float* y) {
    constexpr int kMaxN = 256;
    if (N > kMaxN) {
        for (int i = 0; i < N; ++i) {
            float* Si = S + static_cast<std::size_t>(i) * N;
            const float sa = -dot_vec(Si, kk, N);
            float yi = 0;
            for (int j = 0; j < N; ++j) {
                Si[j] = Si[j] * w[j] + sa * kka[j] + v[i] * k[j];
                yi += Si[j] * r[j];
            }
            y[i] = yi;
        }
        return;
    }
    const int nv = N / S::W * S::W;
    alignas(64) float wr[kMaxN];
    for (int j = 0; j < N; ++j) wr[j] = w[j] * r[j];
    const float ar = dot_vec(kka, r, N);
    const float kr = dot_vec(k, r, N);
    const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(N);
    for (int i = 0; i < N; ++i) {
        float* Si = S + static_cast<std::size_t>(i) * N;
        const char* ahead = reinterpret_cast<const char*>(Si) + kWkv7Ahead;
        for (std::size_t l = 0; l < row_bytes; l += 64) __builtin_prefetch(ahead + l, 1, 3);
        S::V acc_kk = S::zero(), acc_wr = S::zero();
        for (int j = 0; j < nv; j += S::W) {
            const S::V s = S::load(Si + j);
            acc_kk = S::fma(s, S::load(kk + j), acc_kk);
            acc_wr = S::fma(s, S::load(wr + j), acc_wr);
        }
        float sa = S::sum(acc_kk), yi = S::sum(acc_wr);
        for (int j = nv; j < N; ++j) {
            sa += Si[j] * kk[j];
            yi += Si[j] * wr[j];
        }
        sa = -sa;
        y[i] = yi + sa * ar + v[i] * kr;
        const S::V sav = S::set1(sa);
        const S::V vi = S::set1(v[i]);
        for (int j = 0; j < nv; j += S::W) {
            S::V s = S::mul(S::load(Si + j), S::load(w + j));
            s = S::fma(sav, S::load(kka + j), s);
            s = S::fma(vi, S::load(k + j), s);
            S::store(Si + j, s);
        }
        for (int j = nv; j < N; ++j) Si[j] = Si[j] * w[j] + sa * kka[j] + v[i] * k[j];
    }
}

}  // namespace

const KernelTable& table() {
    static const KernelTable t{S::kName, S::kX16, &gemv, kPanelTokens, &pack_x, &gemm_packed,
                               &read_sum, &fma_loop, &wkv7_head,
                               // element-wise (simd_elementwise.inl)
                               &activate, &layer_norm, &lerp, &mix, &add, &mul, &add_gated,
                               &v7_keys, &v7_output, &wkv4, &wkv5_head, &wkv7_seq,
                               S::kX16Gemm ? &quantize_tokens : nullptr,
                               S::kX16Gemm ? &gemm_x16 : nullptr};
    return t;
}

}  // namespace ravel::detail::cpu::RAVEL_ISA_NS
