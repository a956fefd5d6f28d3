// CPU matrix kernels, compiled once per instruction set and chosen at run time, so one binary
// runs on any x86-64 and uses the best the CPU has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "model/matrix.hpp"

namespace ravel::detail {
class ThreadPool;
}

namespace ravel::detail::cpu {

constexpr int kSmallBatch = 4;  // up to this many tokens use the fused decode kernel
// How far ahead of their reads the decode kernels prefetch weights into L2; the bandwidth
// probe's prefetched passes use the same distance, so the limit is measured as they read.
constexpr std::size_t kDecodePrefetchBytes = 16384;
// Row tiles sharing each panel slice of X in L1. Four tiles (24 KiB of staged weights beside
// the 16 KiB slice and the partial sums) left L1 nearly full; with two, 512-token prompts on 2
// threads, 4 alternating runs each, medians: v7 0.4B f16 270 -> 314 tokens/s, f32 304 -> 338,
// v4 169M f16 1092 -> 1172, v7 0.1B f32 878 -> 938. One thread, 128 tokens, f16 and f32 over
// five layer shapes: 1.12x on average (three tiles 1.09x; 64 columns per pass 1.05x). AVX2's
// 6-row tiles: the same within noise.
constexpr int kGemmTilesPerGroup = 2;
constexpr int kGemmRowBlock = 12 * kGemmTilesPerGroup;  // thread work unit: whole tile groups
constexpr int kGemmK = 64;  // GEMM columns per staged block (a multiple of 32)
// GEMM columns per pass over a tile group: the group's staged weights (2 x 12 x 128 floats,
// 12 KiB) and one token panel's slice of X (128 x 32 floats, 16 KiB) fit L1 together. Measured
// against 256 columns with row tiles outermost, medians of interleaved runs on 2 threads:
// prompts 3-10% faster (v7 0.4B f16 319 -> 350 tokens/s over 4 runs, 326 -> 337 over 6; v4
// 169M f32 1091 -> 1190 over 4, 1067 -> 1119 over 6).
constexpr int kGemmKc = 128;
// Columns per pass over all rows of a plain-type product (f32 / f16 / bf16) with longer rows: a
// pass's slice of packed X (1024 columns x 128 tokens, 512 KiB) stays in L2 while every row
// group multiplies it, where the whole of X (2 MiB for RWKV-7 0.4B's 4096-column FFN value)
// was read again from L3 for each group.
constexpr int kGemmKPass = 1024;
static_assert(kGemmKPass % kGemmKc == 0);

// T tokens' activations quantized for the interleaved integer kernels (sequence mode): per
// token `cols` int8 values, and per block of 32 its scale and factor * sum(q): -8 for q4_0 and
// -128 for q8_0 (the weights' unsigned offset taken back out), 1 for q5_1 (the sum that scales
// the weights' minimum). Rows of `tokens` are padded to a multiple of kX16GemmTokens with zeros.
struct QuantizedTokens {
    int tokens = 0;
    int cols = 0;
    std::int8_t* q = nullptr;      // [token][cols]
    float* d = nullptr;            // [token][cols / 32]
    std::int32_t* bias = nullptr;  // [token][cols / 32]
};
constexpr int kX16GemmTokens = 4;  // tokens per pass over a group of 16 interleaved rows
// Points `out` at room in `buffer` (grown when too small) for up to `capacity` tokens of `cols`
// values (whole blocks of 32), with out.tokens = tokens. False when the buffer can't be had.
bool quantized_tokens_in(AlignedBuffer& buffer, int capacity, int tokens, int cols,
                         QuantizedTokens& out);

// Y[t, r] for r in [r0, r1), t < T (Y is T x w.rows, X is T x w.cols, row-major).
using RowsFn = void (*)(const Matrix& w, int r0, int r1, const float* x, int T, float* y);

struct KernelTable {
    const char* isa;
    // Whether q8_0 / q5_1 / q4_0 matrices should be stored interleaved (model/interleave.hpp) for
    // this table's decode kernels. Every table computes either layout correctly.
    bool interleave_quantized;
    RowsFn gemv;  // T <= kSmallBatch: fused dequantize-and-dot per row
    // Sequence mode (T > kSmallBatch). X is packed once per product by pack_x into panels of
    // gemm_panel_tokens tokens (gemm_packed_floats() floats in all); gemm then computes rows
    // [r0, r1) of every token over columns [k0, k1) (multiples of kGemmKc, or k1 the padded
    // width gemm_kpad()), staging weights in `stage` (gemm_stage_floats() floats) and keeping
    // partial sums in `partial` (gemm_partial_floats(r1 - r0, T) floats): the pass from column 0
    // starts them, the one reaching the padded width writes Y. Calls that run at the same time
    // need their own stage buffers, and partial sums of their own rows.
    int gemm_panel_tokens;
    void (*pack_x)(const float* x, int T, int C, int p0, int p1, float* xp);
    void (*gemm)(const Matrix& w, int r0, int r1, const float* xp, int T, float* y, float* stage,
                 float* partial, int k0, int k1);
    // Machine probes for the benchmark: reads `n` floats (returns their sum so the loads can't
    // be dropped), with each line prefetched `prefetch_ahead` bytes ahead into L2 as the decode
    // kernels do (0: none), and runs `iterations` rounds of independent FMAs (returns flops done).
    float (*read_sum)(const float* p, std::size_t n, std::size_t prefetch_ahead);
    double (*fma_loop)(long iterations);
    // One token of the RWKV-7 state update for one head (S is N x N, [value i, key j]):
    //   S_i = S_i * w + (-(S_i . kk)) * kka + v_i * k;  y_i = S_i . r
    void (*wkv7_head)(float* S, int N, const float* w, const float* kk, const float* kka,
                      const float* k, const float* v, const float* r, float* y);

    // --- Element-wise kernels of the forward pass (simd_elementwise.inl) ---
    // Activations for `activate`: x = f(x + bias).
    enum Act : int { kRelu2, kSigmoid, kSilu, kTanh, kExpNegExp, kV7Decay };
    void (*activate)(int act, float* x, const float* bias, int n);  // bias may be null
    void (*layer_norm)(const float* x, const float* w, const float* b, float* y, int n, float eps);
    // out = x + (s - x) * m
    void (*lerp)(const float* x, const float* s, const float* m, float* out, int n);
    // out = x * m + s * (1 - m)
    void (*mix)(const float* x, const float* s, const float* m, float* out, int n);
    void (*add)(float* x, const float* y, int n);                        // x += y
    void (*mul)(float* x, const float* y, int n);                        // x *= y
    void (*add_gated)(float* x, const float* r, const float* v, int n);  // x += sigmoid(r) v
    // One token row (H heads of N) of RWKV-7 keys: kk = normalize(k * k_k) per head,
    // kka = kk * a, k = k * (1 + (a - 1) * k_a).
    void (*v7_keys)(float* k, float* kk, float* kka, const float* a, const float* k_k,
                    const float* k_a, int H, int N);
    // One token row of the RWKV-7 output: y = (GroupNorm(y) + (r . k . r_k per head) v) * g.
    void (*v7_output)(float* y, const float* r, const float* k, const float* v, const float* g,
                      const float* r_k, const float* ln_w, const float* ln_b, int H, int N,
                      float eps);
    // RWKV-4 WKV over T tokens for n channels whose token rows are `stride` floats apart.
    void (*wkv4)(const float* k, const float* v, const float* r, const float* u, const float* w,
                 float* aa, float* bb, float* pp, float* y, int T, int n, std::size_t stride);
    // One token of the RWKV-5.2/6 state update for one head (S is N x N, [key i, value j]).
    void (*wkv5_head)(float* S, int N, const float* r, const float* k, const float* v,
                      const float* w, const float* u, float* y);
    // T tokens of wkv7_head for one head; each token's vectors are `stride` floats after the
    // previous token's.
    void (*wkv7_seq)(float* S, int N, int T, std::size_t stride, const float* w, const float* kk,
                     const float* kka, const float* k, const float* v, const float* r, float* y);

    // Sequence mode on interleaved q8_0 / q5_1 / q4_0 (null where the table has no 16-row kernel,
    // or where its float GEMM is faster: AVX-512 without VNNI): tokens [t0, t1) of X (xq.cols wide)
    // quantized into xq for weights of `type`, then groups [g0, g1) of 16 rows against all of xq's
    // tokens with integer dot products, as the decode kernels compute them.
    void (*quantize_tokens)(DType type, const float* x, int t0, int t1, QuantizedTokens& xq);
    void (*gemm_x16)(const Matrix& w, int g0, int g1, const QuantizedTokens& xq, float* y);

    // Decoding from activations quantized ahead of the product, by whoever computed them
    // (null where the table has no 16-row kernel). quantize_columns quantizes columns [c0, c1)
    // (multiples of 32) of the xq.tokens token rows of x (xq.cols apart) for weights of `type`;
    // gemv_quantized then computes rows [r0, r1) of an interleaved q8_0 / q5_1 / q4_0 matrix
    // for xq.tokens <= kSmallBatch tokens, with the same results as gemv from x.
    void (*quantize_columns)(DType type, const float* x, int c0, int c1, QuantizedTokens& xq);
    void (*gemv_quantized)(const Matrix& w, int r0, int r1, const QuantizedTokens& xq, float* y);
};

inline int gemm_kpad(int cols) {
    return (cols + kGemmK - 1) / kGemmK * kGemmK;
}
inline std::size_t gemm_panels(int T, int panel_tokens) {
    return static_cast<std::size_t>((T + panel_tokens - 1) / panel_tokens);
}
inline std::size_t gemm_packed_floats(int T, int cols, int panel_tokens) {
    return gemm_panels(T, panel_tokens) * static_cast<std::size_t>(gemm_kpad(cols)) *
           static_cast<std::size_t>(panel_tokens);
}
constexpr int kGemmMaxRowsTile = 12;  // the largest row tile of any ISA
constexpr std::size_t gemm_stage_floats() {
    return static_cast<std::size_t>(kGemmKc) * kGemmMaxRowsTile * kGemmTilesPerGroup;
}
inline std::size_t gemm_partial_floats(int rows, int T, int panel_tokens) {
    const int tiles = (rows + kGemmMaxRowsTile - 1) / kGemmMaxRowsTile + 1;
    return static_cast<std::size_t>(tiles) * kGemmMaxRowsTile * gemm_panels(T, panel_tokens) *
           static_cast<std::size_t>(panel_tokens);
}

// Sequence-mode product of rows [r0, r1) for callers without their own buffers (tests):
// packs X and stages weights in buffers it allocates. Returns false when they can't be had.
bool gemm_rows(const KernelTable& k, const Matrix& w, int r0, int r1, const float* x, int T,
               float* y);

// The whole sequence-mode product Y = X W^T on `pool` (may be null): packs X once, then splits
// rows over the threads. Buffers are kept per calling thread and reused. Returns false when
// they can't be allocated (nothing is written then).
bool gemm_parallel(const KernelTable& k, const Matrix& w, const float* x, int T, float* y,
                   ThreadPool* pool);
// The same for an interleaved q8_0 / q5_1 / q4_0 matrix with the table's gemm_x16: quantizes X once
// (kept per calling thread), then splits groups of rows over the threads. Returns false when
// the table has no gemm_x16 or the buffer can't be had.
bool gemm_x16_parallel(const KernelTable& k, const Matrix& w, const float* x, int T, float* y,
                       ThreadPool* pool);

enum class Isa { Generic, Avx2, Avx2Vnni, Avx512, Avx512Vnni };

const KernelTable& kernels_for(Isa isa);
// The best table for this CPU (RAVEL_CPU_ISA=generic|avx2|avx2vnni|avx512 lowers the choice).
// Avx512Vnni differs from Avx512, and Avx2Vnni from Avx2, only in the integer kernels of
// interleaved q8_0 / q5_1 / q4_0.
const KernelTable& kernels();
bool cpu_supports(Isa isa);

}  // namespace ravel::detail::cpu
