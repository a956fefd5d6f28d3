// Token shift with its mixes, activations and the per-version element-wise steps, over fp32
// activations laid out T x C (row-major).
#pragma once

#include "ravel_kernels/common.hpp"

namespace ravel::kernels {

// One output of a token-shift mix. sx is the previous token's row (`prev` for t = 0):
//   Lerp:  out = xx + (sx - xx) * (mix[c] + offset[t, c])   (offset optional)
//   Blend: out = xx * mix[c] + sx * (1 - mix[c])
struct MixTerm {
    const float* mix = nullptr;
    const float* offset = nullptr;
    float* out = nullptr;
};
constexpr int kMaxMixTerms = 6;
struct MixSet {
    MixTerm terms[kMaxMixTerms];
    int count = 0;
};
enum class MixMode : int { Lerp, Blend };
Status token_mix(const float* xx, const float* prev, int T, int C, const MixSet& set, MixMode mode,
                 Stream stream);

enum class Activation : int { Tanh, Sigmoid, Silu, ReluSquare, None };
// x = f(x) over T rows of `cols` values with row stride ld.
Status activate(float* x, int T, int cols, int ld, Activation f, Stream stream);

// RWKV-6 decay: d = exp(-exp(base[c] + d)).
Status v6_decay(float* d, const float* base, int T, int C, Stream stream);

// RWKV-7 per-channel preparation (see the CPU time_mix_v7):
//   w = exp(-e^-0.5 * sigmoid(w0 + w));  a = sigmoid(a0 + a);  kk = k * k_k;
//   k = k * (1 + (a - 1) * k_a);  v += (v_first - v) * sigmoid(v0 + vres)  when vres is given.
struct V7Prepare {
    float* w;
    float* a;
    float* k;
    float* kk;
    float* v;
    const float* v_first;
    const float* vres;  // null on layer 0
    const float* w0;
    const float* a0;
    const float* k_k;
    const float* k_a;
    const float* v0;
};
Status v7_prepare(const V7Prepare& p, int T, int C, Stream stream);

// x += sigmoid(r) * kv over n values (channel mixing of v4 to v6).
Status add_sigmoid_gated(float* x, const float* r, const float* kv, std::size_t n, Stream stream);

}  // namespace ravel::kernels
