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

// out[t, :] = row tokens[t] of `emb` as fp32 (tokens live in device memory).
Status gather_rows(const WeightView& emb, const int* tokens, int T, float* out, Stream stream);

}  // namespace ravel::kernels
