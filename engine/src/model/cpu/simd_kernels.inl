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

float read_sum(const float* p, std::size_t n, std::size_t prefetch_ahead) {
    S::V a[4] = {S::zero(), S::zero(), S::zero(), S::zero()};
    std::size_t i = 0;
    constexpr std::size_t kStepBytes = 4 * S::W * sizeof(float);
    if (prefetch_ahead != 0) {
        const char* pf = reinterpret_cast<const char*>(p) + prefetch_ahead;
        for (; i + 4 * S::W <= n; i += 4 * S::W) {
            for (std::size_t l = 0; l < kStepBytes; l += 64) {
                __builtin_prefetch(pf + i * sizeof(float) + l, 0, 2);
            }
            for (int j = 0; j < 4; ++j) a[j] = S::add(a[j], S::load(p + i + j * S::W));
        }
    }
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

// The same for heads of NV vectors (N = NV * W) where the registers hold the five per-key
// vectors (w, kk, kka, k, w r) for the whole head: each state row is then one load, one store
// and arithmetic, where the general loop reloaded the vectors for every row (the stores to S
// may alias them) and read the row twice. AVX-512, 12 heads of 64 on one core (standalone
// copies of both loops): 10.0 -> 7.0 us with the state in L1/L2, 17.5 -> 14.7 us from L3; in a
// v7 0.1B q4_0 decode 1.51 -> 1.29 us per head.
template <int NV>
void wkv7_head_regs(float* S, const float* w, const float* kk, const float* kka, const float* k,
                    const float* v, const float* r, float* y) {
    constexpr int N = NV * S::W;
    S::V vw[NV], vkk[NV], vkka[NV], vk[NV], vwr[NV];
    S::V ar_acc = S::zero(), kr_acc = S::zero();
    for (int q = 0; q < NV; ++q) {
        vw[q] = S::load(w + q * S::W);
        vkk[q] = S::load(kk + q * S::W);
        vkka[q] = S::load(kka + q * S::W);
        vk[q] = S::load(k + q * S::W);
        const S::V rq = S::load(r + q * S::W);
        vwr[q] = S::mul(vw[q], rq);
        ar_acc = S::fma(vkka[q], rq, ar_acc);
        kr_acc = S::fma(vk[q], rq, kr_acc);
    }
    const float ar = S::sum(ar_acc);
    const float kr = S::sum(kr_acc);
    for (int i = 0; i < N; ++i) {
        float* Si = S + static_cast<std::size_t>(i) * N;
        const char* ahead = reinterpret_cast<const char*>(Si) + kWkv7Ahead;
        for (int l = 0; l < N * 4; l += 64) __builtin_prefetch(ahead + l, 1, 3);
        S::V s[NV];
        for (int q = 0; q < NV; ++q) s[q] = S::load(Si + q * S::W);
        // Two chains per product where the row has two or more vectors.
        S::V kk0 = S::mul(s[0], vkk[0]), wr0 = S::mul(s[0], vwr[0]);
        S::V kk1 = S::zero(), wr1 = S::zero();
        for (int q = 1; q < NV; ++q) {
            if (q % 2 == 1) {
                kk1 = S::fma(s[q], vkk[q], kk1);
                wr1 = S::fma(s[q], vwr[q], wr1);
            } else {
                kk0 = S::fma(s[q], vkk[q], kk0);
                wr0 = S::fma(s[q], vwr[q], wr0);
            }
        }
        const float sa = -S::sum(S::add(kk0, kk1));
        y[i] = S::sum(S::add(wr0, wr1)) + sa * ar + v[i] * kr;
        const S::V sav = S::set1(sa);
        const S::V vi = S::set1(v[i]);
        for (int q = 0; q < NV; ++q) {
            S::V t = S::mul(s[q], vw[q]);
            t = S::fma(sav, vkka[q], t);
            t = S::fma(vi, vk[q], t);
            S::store(Si + q * S::W, t);
        }
    }
}

void wkv7_head(float* S, int N, const float* w, const float* kk, const float* kka, const float* k,
               const float* v, const float* r, float* y) {
    if constexpr (S::kRegs >= 32) {
        switch (N / S::W * (N % S::W == 0 ? 1 : 0)) {
            case 1:
                return wkv7_head_regs<1>(S, w, kk, kka, k, v, r, y);
            case 2:
                return wkv7_head_regs<2>(S, w, kk, kka, k, v, r, y);
            case 4:
                return wkv7_head_regs<4>(S, w, kk, kka, k, v, r, y);
            default:
                break;
        }
    }
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
    static const KernelTable t{
        S::kName, S::kX16, &gemv, kPanelTokens, &pack_x, &gemm_packed, &read_sum, &fma_loop,
        &wkv7_head,
        // element-wise (simd_elementwise.inl)
        &activate, &layer_norm, &lerp, &mix, &add, &mul, &add_gated, &v7_keys, &v7_output, &wkv4,
        &wkv5_head, &wkv7_seq, S::kX16Gemm ? &quantize_tokens : nullptr,
        S::kX16Gemm ? &gemm_x16 : nullptr, S::kX16 ? &quantize_columns : nullptr,
        S::kX16 ? &gemv_quantized : nullptr};
    return t;
}

}  // namespace ravel::detail::cpu::RAVEL_ISA_NS
