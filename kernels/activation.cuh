// Device-side activations, shared by the element-wise kernels and the matrix-vector products
// that apply one to their output (the same formulas as the CPU forward pass).
#pragma once

#include <cuda_runtime.h>

#include "ravel_kernels/elementwise.hpp"

namespace ravel::kernels::dev {

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

}  // namespace ravel::kernels::dev
