// Device-side activations and token-shift mixes, shared by the element-wise kernels, the
// matrix-vector products that apply an activation to their output and the fused decode
// LayerNorm (the same formulas as the CPU forward pass).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "ravel_kernels/elementwise.hpp"

namespace ravel::kernels::dev {

// RWKV-7's decay is exp(-exp(-0.5) * sigmoid(.)); the constant as the CPU rounds it.
constexpr float kV7DecayScale = 0.606531f;

__device__ __forceinline__ float sigmoidf(float x) {
    return 1.0f / (1.0f + expf(-x));
}

__device__ __forceinline__ float activation(Activation f, float v) {
    switch (f) {
        case Activation::Tanh:
            return tanhf(v);
        case Activation::Sigmoid:
            return sigmoidf(v);
        case Activation::Silu:
            return v * sigmoidf(v);
        case Activation::ReluSquare: {
            const float r = fmaxf(v, 0.0f);
            return r * r;
        }
        case Activation::None:
            break;
    }
    return v;
}

// One token-shift mix of element i (channel c) from the normalised row x and the previous
// token's s (see MixTerm); shared by token_mix and the fused decode LayerNorm.
__device__ __forceinline__ void mix_into(const MixSet& set, MixMode mode, float x, float s, int c,
                                         std::size_t i) {
    for (int j = 0; j < set.count; ++j) {
        const MixTerm& m = set.terms[j];
        if (mode == MixMode::Lerp) {
            const float f = m.offset != nullptr ? m.mix[c] + m.offset[i] : m.mix[c];
            m.out[i] = x + (s - x) * f;
        } else {
            m.out[i] = x * m.mix[c] + s * (1.0f - m.mix[c]);
        }
    }
}

}  // namespace ravel::kernels::dev
