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

#include "model/cpu/kernels.hpp"
#include "ravel/quant.hpp"

namespace ravel::detail::cpu::RAVEL_ISA_NS {

namespace {

inline int imin(int a, int b) {
    return a < b ? a : b;
}

constexpr int kBlock = kQuantBlock;  // values per decode block for every type
constexpr int kVecs = kBlock / S::W;

inline float half_at(const std::byte* p) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return S::half_to_float(h);
}

// Decodes block b (32 values) of a row into kVecs vectors.
template <DType T>
inline void decode_block(const std::byte* row, int b, S::V out[kVecs]) {
    if constexpr (T == DType::F32) {
        const float* p = reinterpret_cast<const float*>(row) + b * kBlock;
        for (int i = 0; i < kVecs; ++i) out[i] = S::load(p + i * S::W);
    } else if constexpr (T == DType::F16 || T == DType::BF16) {
        const auto* p = reinterpret_cast<const std::uint16_t*>(row) + b * kBlock;
        for (int i = 0; i < kVecs; ++i) {
            out[i] = T == DType::F16 ? S::load_f16(p + i * S::W) : S::load_bf16(p + i * S::W);
        }
    } else if constexpr (T == DType::Q8_0) {
        const std::byte* blk = row + b * 34;
        const S::V d = S::set1(half_at(blk));
        const auto* q = reinterpret_cast<const std::int8_t*>(blk + 2);
        for (int i = 0; i < kVecs; ++i) out[i] = S::mul(d, S::load_i8(q + i * S::W));
    } else if constexpr (T == DType::Q4_0) {
        const std::byte* blk = row + b * 18;
        const S::V d = S::set1(half_at(blk));
        const S::V eight = S::set1(8.0f);
        const auto* qs = reinterpret_cast<const std::uint8_t*>(blk + 2);
        constexpr int half = kVecs / 2;  // vectors per 16 values
        for (int i = 0; i < half; ++i) {
            out[i] = S::mul(d, S::sub(S::load_lo4(qs + i * S::W), eight));
            out[half + i] = S::mul(d, S::sub(S::load_hi4(qs + i * S::W), eight));
        }
    } else if constexpr (T == DType::Q5_1) {
        const std::byte* blk = row + b * 24;
        const S::V d = S::set1(half_at(blk));
        const S::V m = S::set1(half_at(blk + 2));
        std::uint32_t qh;
        std::memcpy(&qh, blk + 4, 4);
        const auto* qs = reinterpret_cast<const std::uint8_t*>(blk + 8);
        constexpr int half = kVecs / 2;
        for (int i = 0; i < half; ++i) {
            const S::V lo = S::add(S::load_lo4(qs + i * S::W), S::load_bit16(qh, i * S::W));
            const S::V hi = S::add(S::load_hi4(qs + i * S::W), S::load_bit16(qh, 16 + i * S::W));
            out[i] = S::fma(d, lo, m);
            out[half + i] = S::fma(d, hi, m);
        }
    }
}

inline float scalar_at(DType type, const std::byte* row, int c) {
    if (type == DType::F32) return reinterpret_cast<const float*>(row)[c];
    std::uint16_t h;
    std::memcpy(&h, row + 2 * static_cast<std::size_t>(c), 2);
    return type == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

// Fused decode: each weight block is decoded once into registers and used for all NT tokens.
// NT is a template parameter so the accumulators stay in registers.
template <DType Type, int NT>
void gemv_fixed(const Matrix& w, int r0, int r1, const float* x, float* y) {
    constexpr int kBlockBytes = Type == DType::F32    ? kBlock * 4
                                : Type == DType::Q8_0 ? 34
                                : Type == DType::Q5_1 ? 24
                                : Type == DType::Q4_0 ? 18
                                                      : kBlock * 2;
    const int C = w.cols;
    const int blocks = C / kBlock;  // quantized types always have whole blocks
    for (int r = r0; r < r1; ++r) {
        const std::byte* row = w.row(r);
        S::V acc[NT][2];
        for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = S::zero();
        for (int b = 0; b < blocks; ++b) {
            // Quantized rows are one sequential stream that decoding keeps the core too busy
            // to issue loads for early; fetching 2 KiB ahead hides the latency (measured
            // 31 -> 18 ms/token for q4_0 at 0.1B). Plain types stream well without it.
            if constexpr (Type == DType::Q8_0 || Type == DType::Q5_1 || Type == DType::Q4_0) {
                __builtin_prefetch(reinterpret_cast<const char*>(row) + b * kBlockBytes + 2048, 0,
                                   0);
            }
            S::V vals[kVecs];
            decode_block<Type>(row, b, vals);
            for (int t = 0; t < NT; ++t) {
                const float* xt = x + static_cast<std::size_t>(t) * C + b * kBlock;
                for (int i = 0; i < kVecs; ++i) {
                    acc[t][i & 1] = S::fma(vals[i], S::load(xt + i * S::W), acc[t][i & 1]);
                }
            }
        }
        for (int t = 0; t < NT; ++t) {
            float s = S::sum(S::add(acc[t][0], acc[t][1]));
            for (int c = blocks * kBlock; c < C; ++c) {  // plain types only
                s += scalar_at(Type, row, c) * x[static_cast<std::size_t>(t) * C + c];
            }
            y[static_cast<std::size_t>(t) * w.rows + r] = s;
        }
    }
}

template <DType Type>
void gemv_typed(const Matrix& w, int r0, int r1, const float* x, int T, float* y) {
    switch (T) {
        case 1:
            return gemv_fixed<Type, 1>(w, r0, r1, x, y);
        case 2:
            return gemv_fixed<Type, 2>(w, r0, r1, x, y);
        case 3:
            return gemv_fixed<Type, 3>(w, r0, r1, x, y);
        default:
            break;
    }
    // kSmallBatch (4) at a time; larger T only reaches here from the out-of-memory fallback.
    for (int t = 0; t < T; t += kSmallBatch) {
        const int n = imin(kSmallBatch, T - t);
        const float* xt = x + static_cast<std::size_t>(t) * w.cols;
        float* yt = y + static_cast<std::size_t>(t) * w.rows;
        if (n == 4) {
            gemv_fixed<Type, 4>(w, r0, r1, xt, yt);
        } else {
            gemv_typed<Type>(w, r0, r1, xt, n, yt);
        }
    }
}

// GEMM: each panel of kPanel output rows is packed k-major once (the whole K range, which
// stays in L2), then multiplied by every token, so the micro-kernel multiplies whole vectors
// of output rows by one broadcast activation (no horizontal sums) and each output is written
// exactly once.
constexpr int kPanelVecs = 2;
constexpr int kPanel = kPanelVecs * S::W;  // output rows per panel
constexpr int kTileT = S::kTileTokens;     // tokens per micro-kernel call
constexpr int kRowChunk = 256;             // columns decoded at a time while packing

// y[t][0..nr) = sum_k pack[k][.] * x[t][k] for t < nt.
inline void panel_kernel(const float* pack, const float* const xt[kTileT], int kn, float* y,
                         std::size_t ldy, int nr, int nt) {
    S::V acc[kPanelVecs][kTileT];
    for (int v = 0; v < kPanelVecs; ++v)
        for (int t = 0; t < kTileT; ++t) acc[v][t] = S::zero();
    for (int k = 0; k < kn; ++k) {
        const float* pk = pack + static_cast<std::size_t>(k) * kPanel;
        S::V wv[kPanelVecs];
        for (int v = 0; v < kPanelVecs; ++v) wv[v] = S::load(pk + v * S::W);
        for (int t = 0; t < kTileT; ++t) {
            const S::V xb = S::set1(xt[t][k]);
            for (int v = 0; v < kPanelVecs; ++v) acc[v][t] = S::fma(wv[v], xb, acc[v][t]);
        }
    }
    for (int t = 0; t < nt; ++t) {
        float* yt = y + static_cast<std::size_t>(t) * ldy;
        if (nr == kPanel) {
            for (int v = 0; v < kPanelVecs; ++v) S::store(yt + v * S::W, acc[v][t]);
        } else {
            alignas(64) float tmp[kPanel];
            for (int v = 0; v < kPanelVecs; ++v) S::store(tmp + v * S::W, acc[v][t]);
            for (int r = 0; r < nr; ++r) yt[r] = tmp[r];
        }
    }
}

// Packs rows [r, r + nr) of w, all columns, k-major; missing rows are zero. Rows are decoded
// kRowChunk columns at a time into an L1-sized staging tile, which is then written out with
// the row index innermost, so every packed cache line is written in one go.
template <DType Type>
void pack_panel(const Matrix& w, int r, int nr, float* pack) {
    const int C = w.cols;
    alignas(64) float stage[kPanel][kRowChunk];
    for (int k0 = 0; k0 < C; k0 += kRowChunk) {
        const int kn = imin(kRowChunk, C - k0);
        const float* src[kPanel];
        for (int p = 0; p < kPanel; ++p) {
            if (p >= nr) {
                for (int k = 0; k < kn; ++k) stage[p][k] = 0.0f;
                src[p] = stage[p];
                continue;
            }
            const std::byte* row = w.row(r + p);
            if constexpr (Type == DType::F32) {
                src[p] = reinterpret_cast<const float*>(row) + k0;
            } else {
                S::V vals[kVecs];
                const int whole = kn / kBlock;
                for (int b = 0; b < whole; ++b) {
                    decode_block<Type>(row, k0 / kBlock + b, vals);
                    for (int v = 0; v < kVecs; ++v)
                        S::store(stage[p] + b * kBlock + v * S::W, vals[v]);
                }
                for (int c = whole * kBlock; c < kn; ++c)
                    stage[p][c] = scalar_at(Type, row, k0 + c);
                src[p] = stage[p];
            }
        }
        float* dst = pack + static_cast<std::size_t>(k0) * kPanel;
        for (int k = 0; k < kn; ++k) {
            for (int p = 0; p < kPanel; ++p)
                dst[static_cast<std::size_t>(k) * kPanel + p] = src[p][k];
        }
    }
}

template <DType Type>
void gemm_typed(const Matrix& w, int r0, int r1, const float* x, int T, float* y) {
    const int C = w.cols;
    const std::size_t R = static_cast<std::size_t>(w.rows);
    // One packed panel: C x kPanel floats (at most a few MiB); C library calls only, see top.
    float* pack = static_cast<float*>(
        std::aligned_alloc(64, ((static_cast<std::size_t>(C) * kPanel * 4 + 63) / 64) * 64));
    if (pack == nullptr) {
        // Out of memory for the panel: fall back to the unpacked one-token kernel per token.
        for (int t = 0; t < T; ++t) {
            gemv_typed<Type>(w, r0, r1, x + static_cast<std::size_t>(t) * C, 1, y + t * R);
        }
        return;
    }
    for (int r = r0; r < r1; r += kPanel) {
        const int nr = imin(kPanel, r1 - r);
        pack_panel<Type>(w, r, nr, pack);
        // Start fetching the next panel's rows while this one is multiplied: packing
        // otherwise stalls on memory latency at the first touch of each row.
        for (int p = 0; p < imin(kPanel, r1 - r - kPanel); ++p) {
            const char* base = reinterpret_cast<const char*>(w.row(r + kPanel + p));
            for (std::size_t b = 0; b < w.row_bytes; b += 64) __builtin_prefetch(base + b, 0, 1);
        }
        for (int t = 0; t < T; t += kTileT) {
            const int nt = imin(kTileT, T - t);
            const float* xt[kTileT];
            for (int i = 0; i < kTileT; ++i)
                xt[i] = x + static_cast<std::size_t>(t + imin(i, nt - 1)) * C;
            panel_kernel(pack, xt, C, y + static_cast<std::size_t>(t) * R + r, R, nr, nt);
        }
    }
    std::free(pack);
}

void gemv(const Matrix& w, int r0, int r1, const float* x, int T, float* y) {
    switch (w.type) {
        case DType::F32:
            return gemv_typed<DType::F32>(w, r0, r1, x, T, y);
        case DType::F16:
            return gemv_typed<DType::F16>(w, r0, r1, x, T, y);
        case DType::BF16:
            return gemv_typed<DType::BF16>(w, r0, r1, x, T, y);
        case DType::Q8_0:
            return gemv_typed<DType::Q8_0>(w, r0, r1, x, T, y);
        case DType::Q5_1:
            return gemv_typed<DType::Q5_1>(w, r0, r1, x, T, y);
        case DType::Q4_0:
            return gemv_typed<DType::Q4_0>(w, r0, r1, x, T, y);
    }
}

void gemm(const Matrix& w, int r0, int r1, const float* x, int T, float* y) {
    switch (w.type) {
        case DType::F32:
            return gemm_typed<DType::F32>(w, r0, r1, x, T, y);
        case DType::F16:
            return gemm_typed<DType::F16>(w, r0, r1, x, T, y);
        case DType::BF16:
            return gemm_typed<DType::BF16>(w, r0, r1, x, T, y);
        case DType::Q8_0:
            return gemm_typed<DType::Q8_0>(w, r0, r1, x, T, y);
        case DType::Q5_1:
            return gemm_typed<DType::Q5_1>(w, r0, r1, x, T, y);
        case DType::Q4_0:
            return gemm_typed<DType::Q4_0>(w, r0, r1, x, T, y);
    }
}

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

void wkv7_head(float* S, int N, const float* w, const float* kk, const float* kka, const float* k,
               const float* v, const float* r, float* y) {
    const int nv = N / S::W * S::W;
    for (int i = 0; i < N; ++i) {
        float* Si = S + static_cast<std::size_t>(i) * N;
        const float sa = -dot_vec(Si, kk, N);
        const S::V sav = S::set1(sa);
        const S::V vi = S::set1(v[i]);
        for (int j = 0; j < nv; j += S::W) {
            S::V s = S::mul(S::load(Si + j), S::load(w + j));
            s = S::fma(sav, S::load(kka + j), s);
            s = S::fma(vi, S::load(k + j), s);
            S::store(Si + j, s);
        }
        for (int j = nv; j < N; ++j) Si[j] = Si[j] * w[j] + sa * kka[j] + v[i] * k[j];
        y[i] = dot_vec(Si, r, N);
    }
}

}  // namespace

const KernelTable& table() {
    static const KernelTable t{S::kName, &gemv, &gemm, &read_sum, &fma_loop, &wkv7_head};
    return t;
}

}  // namespace ravel::detail::cpu::RAVEL_ISA_NS
