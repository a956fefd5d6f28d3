// Matrix-vector products for a few tokens at once (decode and short chunks), for every weight
// storage type, and the embedding gather. Memory-bound: each weight row is read once per call
// and used for all T tokens.
#pragma once

#include "ravel_kernels/common.hpp"
#include "ravel_kernels/elementwise.hpp"

namespace ravel::kernels {

constexpr int kMatvecMaxTokens = 8;

// y[t * ldy + r] (+)= sum_c W[r, c] * x[t * ldx + c] for t < T (1..kMatvecMaxTokens).
// With accumulate the product is added to y (the residual add fused into the product); `act`
// is then applied to the result (a LoRA's tanh, the FFN's squared ReLU) in the same kernel.
Status matvec(const WeightView& w, const float* x, int ldx, int T, float* y, int ldy,
              bool accumulate, Stream stream, Activation act = Activation::None);

// One token through several independent products in one launch per weight type (decode runs
// a layer's projections, or its LoRA halves, side by side: each launch costs microseconds of a
// token that reads the weights in about one millisecond). Job j computes
// y[r] (+)= act(sum_c W[r, c] * x[c]) as matvec() with T = 1 does (to rounding: a launch may
// split rows over fewer warps than the job alone would take); x and y of
// different jobs must not overlap any job's y.
constexpr int kMaxMatvecJobs = 8;
struct MatvecJob {
    WeightView w;
    const float* x = nullptr;
    float* y = nullptr;
    bool accumulate = false;
    Activation act = Activation::None;
};
Status matvec_group(const MatvecJob* jobs, int count, Stream stream);

// out[t, :] = row tokens[t] of `emb` as fp32 (tokens live in device memory).
Status gather_rows(const WeightView& emb, const int* tokens, int T, float* out, Stream stream);

}  // namespace ravel::kernels
