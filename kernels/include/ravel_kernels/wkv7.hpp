// RWKV-7 WKV (the generalised delta rule) on an H x N x N state per layer, indexed
// [head, value i, key j]:
//   sa_i = -sum_j S_ij kk_j;   S_ij = S_ij w_j + sa_i kk_j a_j + v_i k_j;   y_i = sum_j S_ij r_j
// Two forms, as for v5: one token, and a sequence form with each state row in registers.
#pragma once

#include "ravel_kernels/common.hpp"

namespace ravel::kernels {

bool wkv7_supports(int head_size);

// All inputs T x C (C = H * N): r, decay w, k (already scaled by a), v, kk (normalised), a.
// state: H x N x N, updated in place; y: T x C.
Status wkv7(int T, int H, int N, const float* r, const float* w, const float* k, const float* v,
            const float* kk, const float* a, float* state, float* y, Stream stream,
            bool force_sequence = false);

}  // namespace ravel::kernels
