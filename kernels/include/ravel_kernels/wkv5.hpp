// RWKV-5.2 / RWKV-6 WKV on an H x N x N state per layer, indexed [head, key i, value j]:
//   y_j = sum_i r_i (u_i k_i v_j + S_ij);   S_ij = k_i v_j + w_i S_ij
// Two forms: one token (each head's state streamed once through many threads), and a
// sequence form for chunks (each thread keeps one state column in registers for all T).
#pragma once

#include "ravel_kernels/common.hpp"

namespace ravel::kernels {

// Head sizes the kernels are built for.
bool wkv5_supports(int head_size);

// r, k, v, y: T x C with C = H * N. decay: T x C when decay_per_token (v6), else C values
// (v5.2). bonus (u): C values. state: H x N x N, updated in place. T = 1 uses the one-token
// form unless force_sequence.
Status wkv5(int T, int H, int N, const float* r, const float* k, const float* v, const float* decay,
            bool decay_per_token, const float* bonus, float* state, float* y, Stream stream,
            bool force_sequence = false);

}  // namespace ravel::kernels
