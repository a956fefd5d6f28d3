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

// Decoding one token, per head in one launch: the preparation of v7_prepare (the decay, a,
// kk, the a-scaled k and the value residual; on the first layer v_first takes v), the L2
// normalisation of kk, WKV, and group_norm_out with the r.k bonus and the gate. Inputs are C
// values each (C = H * N): w, a, k and v as the LoRAs and projections left them; g is the gate
// after its sigmoid. y: C values.
struct Wkv7Decode {
    const float* r;
    const float* w;
    const float* a;
    const float* k;
    const float* v;
    const float* vres;  // null on the first layer
    float* v_first;     // written on the first layer, read after
    bool first_layer;
    const float* g;
    const float* w0;
    const float* a0;
    const float* k_k;
    const float* k_a;
    const float* v0;
    const float* r_k;
    const float* ln_w;
    const float* ln_b;
    float* state;
    float* y;
    float norm_eps;
    float group_norm_eps;
};
Status wkv7_decode(const Wkv7Decode& p, int H, int N, Stream stream);

}  // namespace ravel::kernels
