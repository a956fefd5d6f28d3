// CPU matrix kernels, compiled once per instruction set and chosen at run time, so one binary
// runs on any x86-64 and uses the best the CPU has.
#pragma once

#include <string_view>

#include "model/matrix.hpp"

namespace ravel::detail::cpu {

constexpr int kSmallBatch = 4;     // up to this many tokens use the fused decode kernel
constexpr int kGemmRowBlock = 32;  // rows per GEMM panel (a multiple of every ISA's panel)

// Y[t, r] for r in [r0, r1), t < T (Y is T x w.rows, X is T x w.cols, row-major).
using RowsFn = void (*)(const Matrix& w, int r0, int r1, const float* x, int T, float* y);

struct KernelTable {
    const char* isa;
    RowsFn gemv;  // T <= kSmallBatch: fused dequantize-and-dot per row
    RowsFn gemm;  // any T: f32 tiles, weights dequantized per block
    // Machine probes for the benchmark: reads `n` floats (returns their sum so the loads can't
    // be dropped) and runs `iterations` rounds of independent FMAs (returns flops done).
    float (*read_sum)(const float* p, std::size_t n);
    double (*fma_loop)(long iterations);
    // One token of the RWKV-7 state update for one head (S is N x N, [value i, key j]):
    //   S_i = S_i * w + (-(S_i . kk)) * kka + v_i * k;  y_i = S_i . r
    void (*wkv7_head)(float* S, int N, const float* w, const float* kk, const float* kka,
                      const float* k, const float* v, const float* r, float* y);
};

enum class Isa { Generic, Avx2, Avx512 };

const KernelTable& kernels_for(Isa isa);
// The best table for this CPU (RAVEL_CPU_ISA=generic|avx2|avx512 lowers the choice).
const KernelTable& kernels();
bool cpu_supports(Isa isa);

}  // namespace ravel::detail::cpu
