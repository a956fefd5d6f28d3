// Element-wise kernels (see ravel_kernels/elementwise.hpp). Formulas follow the CPU forward
// pass term by term so the two agree to rounding.
#include <cuda_runtime.h>

#include "activation.cuh"
#include "ravel_kernels/elementwise.hpp"

namespace ravel::kernels {

namespace {

constexpr int kThreads = 256;

using dev::sigmoidf;

unsigned blocks_for(std::size_t n) {
    const std::size_t b = (n + kThreads - 1) / kThreads;
    return static_cast<unsigned>(b < 65535u * 32u ? b : 65535u * 32u);
}

__global__ void token_mix_kernel(const float* __restrict__ xx, const float* __restrict__ prev,
                                 std::size_t n, int C, MixSet set, MixMode mode) {
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        const int c = static_cast<int>(i % static_cast<std::size_t>(C));
        const float x = xx[i];
        const float s = i < static_cast<std::size_t>(C) ? prev[c] : xx[i - C];
        dev::mix_into(set, mode, x, s, c, i);
    }
}

__global__ void activate_kernel(float* __restrict__ x, int T, int cols, int ld, Activation f) {
    const std::size_t n = static_cast<std::size_t>(T) * cols;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        float* p = x + (i / cols) * static_cast<std::size_t>(ld) + i % cols;
        *p = dev::activation(f, *p);
    }
}

__global__ void v6_decay_kernel(float* __restrict__ d, const float* __restrict__ base,
                                std::size_t n, int C) {
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        d[i] = expf(-expf(base[i % static_cast<std::size_t>(C)] + d[i]));
    }
}

__global__ void v7_prepare_kernel(V7Prepare p, std::size_t n, int C) {
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        const std::size_t c = i % static_cast<std::size_t>(C);
        p.w[i] = expf(-dev::kV7DecayScale * sigmoidf(p.w0[c] + p.w[i]));
        const float a = sigmoidf(p.a0[c] + p.a[i]);
        p.a[i] = a;
        const float k = p.k[i];
        p.kk[i] = k * p.k_k[c];
        p.k[i] = k * (1.0f + (a - 1.0f) * p.k_a[c]);
        if (p.vres != nullptr) {
            const float v = p.v[i];
            p.v[i] = v + (p.v_first[i] - v) * sigmoidf(p.v0[c] + p.vres[i]);
        }
    }
}

__global__ void add_sigmoid_gated_kernel(float* __restrict__ x, const float* __restrict__ r,
                                         const float* __restrict__ kv, std::size_t n) {
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        x[i] += sigmoidf(r[i]) * kv[i];
    }
}

}  // namespace

Status token_mix(const float* xx, const float* prev, int T, int C, const MixSet& set, MixMode mode,
                 Stream stream) {
    const std::size_t n = static_cast<std::size_t>(T) * C;
    if (n == 0 || set.count == 0) return cudaSuccess;
    if (set.count > kMaxMixTerms) return cudaErrorInvalidValue;
    token_mix_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        xx, prev, n, C, set, mode);
    return cudaGetLastError();
}

Status activate(float* x, int T, int cols, int ld, Activation f, Stream stream) {
    const std::size_t n = static_cast<std::size_t>(T) * cols;
    if (n == 0 || f == Activation::None) return cudaSuccess;
    activate_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, T, cols,
                                                                                       ld, f);
    return cudaGetLastError();
}

Status v6_decay(float* d, const float* base, int T, int C, Stream stream) {
    const std::size_t n = static_cast<std::size_t>(T) * C;
    if (n == 0) return cudaSuccess;
    v6_decay_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(d, base, n,
                                                                                       C);
    return cudaGetLastError();
}

Status v7_prepare(const V7Prepare& p, int T, int C, Stream stream) {
    const std::size_t n = static_cast<std::size_t>(T) * C;
    if (n == 0) return cudaSuccess;
    v7_prepare_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p, n, C);
    return cudaGetLastError();
}

Status add_sigmoid_gated(float* x, const float* r, const float* kv, std::size_t n, Stream stream) {
    if (n == 0) return cudaSuccess;
    add_sigmoid_gated_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        x, r, kv, n);
    return cudaGetLastError();
}

}  // namespace ravel::kernels
