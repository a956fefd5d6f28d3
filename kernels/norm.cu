// Normalisation kernels (see ravel_kernels/norm.hpp). Statistics are two-pass in fp32 (mean,
// then the mean of squared deviations), which stays within a few ulps of the CPU's double sums
// at these widths.
#include <cuda_runtime.h>

#include "activation.cuh"
#include "ravel_kernels/norm.hpp"
#include "weight_format.cuh"

namespace ravel::kernels {

namespace {

constexpr int kNormThreads = 256;

__device__ float block_sum(float v, float* shared) {
    v = dev::warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // `shared` may still be read from the previous call
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    float total = 0.0f;
    const int warps = (blockDim.x + 31) >> 5;
    for (int i = 0; i < warps; ++i) total += shared[i];
    return total;
}

// Mean and 1 / sqrt(var + eps) of one row, every thread of the block taking part. Rows of up to
// kCachedPerThread values per thread are loaded once, all loads in flight together: a loop
// that waited on each load in turn, twice, took 8-9 us for one 2048-wide row on an H200. The
// sums run in the same order either way.
constexpr int kCachedPerThread = 16;

__device__ void row_stats(const float* __restrict__ xr, int C, float eps, float* shared,
                          float* mean_out, float* inv_out) {
    float s = 0.0f, q = 0.0f, mean;
    if (C <= kCachedPerThread * static_cast<int>(blockDim.x)) {
        float v[kCachedPerThread];
#pragma unroll
        for (int u = 0; u < kCachedPerThread; ++u) {
            const int c = threadIdx.x + u * blockDim.x;
            v[u] = c < C ? xr[c] : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < kCachedPerThread; ++u) s += v[u];
        mean = block_sum(s, shared) / static_cast<float>(C);
#pragma unroll
        for (int u = 0; u < kCachedPerThread; ++u) {
            if (threadIdx.x + u * blockDim.x < C) {
                const float d = v[u] - mean;
                q = fmaf(d, d, q);
            }
        }
    } else {
        for (int c = threadIdx.x; c < C; c += blockDim.x) s += xr[c];
        mean = block_sum(s, shared) / static_cast<float>(C);
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            const float d = xr[c] - mean;
            q = fmaf(d, d, q);
        }
    }
    const float var = block_sum(q, shared) / static_cast<float>(C);
    *mean_out = mean;
    *inv_out = 1.0f / sqrtf(var + eps);
}

__global__ void layer_norm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                  const float* __restrict__ b, float* __restrict__ y, int C,
                                  float eps) {
    __shared__ float shared[32];
    const float* xr = x + static_cast<std::size_t>(blockIdx.x) * C;
    float* yr = y + static_cast<std::size_t>(blockIdx.x) * C;
    float mean, inv;
    row_stats(xr, C, eps, shared, &mean, &inv);
    for (int c = threadIdx.x; c < C; c += blockDim.x) yr[c] = (xr[c] - mean) * inv * w[c] + b[c];
}

// One token, one channel per thread: every block takes the row's statistics itself (the row
// is a few KiB, read from L2) and then mixes its own channels, so the mixes' many small loads
// and stores are spread over the GPU (one block doing all of them took 24 us at C = 2048 on an
// H200). Each thread reads prev[c] before it replaces it, so no other thread is involved.
__global__ void layer_norm_shift_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                        const float* __restrict__ b, float* __restrict__ xx,
                                        float* __restrict__ prev, int C, float eps, MixSet set,
                                        MixMode mode) {
    __shared__ float shared[32];
    float mean, inv;
    row_stats(x, C, eps, shared, &mean, &inv);
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < C) {
        const float v = (x[c] - mean) * inv * w[c] + b[c];
        xx[c] = v;
        dev::mix_into(set, mode, v, prev[c], c, static_cast<std::size_t>(c));
        prev[c] = v;
    }
}

// One warp per (token, head).
__global__ void group_norm_out_kernel(float* __restrict__ y, int H, int N, float eps,
                                      GroupNormOut p) {
    const int lane = threadIdx.x;
    const int t = blockIdx.x / H, h = blockIdx.x % H;
    const std::size_t C = static_cast<std::size_t>(H) * N;
    const std::size_t base = static_cast<std::size_t>(t) * C + static_cast<std::size_t>(h) * N;
    float* yh = y + base;
    float s = 0.0f;
    for (int i = lane; i < N; i += 32) s += yh[i];
    const float mean = dev::warp_sum(s) / static_cast<float>(N);
    float q = 0.0f;
    for (int i = lane; i < N; i += 32) {
        const float d = yh[i] - mean;
        q = fmaf(d, d, q);
    }
    const float var = dev::warp_sum(q) / static_cast<float>(N);
    const float inv = 1.0f / sqrtf(var + eps);
    float bonus = 0.0f;
    if (p.r != nullptr) {
        float acc = 0.0f;
        for (int i = lane; i < N; i += 32) {
            acc += p.r[base + i] * p.k[base + i] * p.rk[static_cast<std::size_t>(h) * N + i];
        }
        bonus = dev::warp_sum(acc);
    }
    for (int i = lane; i < N; i += 32) {
        const std::size_t c = static_cast<std::size_t>(h) * N + i;
        float v = (yh[i] - mean) * inv * p.w[c] + p.b[c];
        if (p.r != nullptr) v += bonus * p.v[base + i];
        if (p.g != nullptr) v *= p.g[base + i];
        yh[i] = v;
    }
}

__global__ void l2_normalize_kernel(float* __restrict__ x, int N, float eps) {
    float* xg = x + static_cast<std::size_t>(blockIdx.x) * N;
    float s = 0.0f;
    for (int i = threadIdx.x; i < N; i += 32) s = fmaf(xg[i], xg[i], s);
    const float inv = 1.0f / fmaxf(sqrtf(dev::warp_sum(s)), eps);
    for (int i = threadIdx.x; i < N; i += 32) xg[i] *= inv;
}

}  // namespace

Status layer_norm(const float* x, const float* w, const float* b, float* y, int T, int C, float eps,
                  Stream stream) {
    if (T <= 0) return cudaSuccess;
    layer_norm_kernel<<<T, kNormThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, w, b, y, C,
                                                                                 eps);
    return cudaGetLastError();
}

Status layer_norm_shift(const float* x, const float* w, const float* b, float* xx, float* prev,
                        int C, float eps, const MixSet& set, MixMode mode, Stream stream) {
    if (set.count > kMaxMixTerms) return cudaErrorInvalidValue;
    layer_norm_shift_kernel<<<(C + kNormThreads - 1) / kNormThreads, kNormThreads, 0,
                              static_cast<cudaStream_t>(stream)>>>(x, w, b, xx, prev, C, eps, set,
                                                                   mode);
    return cudaGetLastError();
}

Status group_norm_out(float* y, int T, int H, int N, float eps, const GroupNormOut& p,
                      Stream stream) {
    if (T <= 0) return cudaSuccess;
    group_norm_out_kernel<<<T * H, 32, 0, static_cast<cudaStream_t>(stream)>>>(y, H, N, eps, p);
    return cudaGetLastError();
}

Status l2_normalize(float* x, int groups, int N, float eps, Stream stream) {
    if (groups <= 0) return cudaSuccess;
    l2_normalize_kernel<<<groups, 32, 0, static_cast<cudaStream_t>(stream)>>>(x, N, eps);
    return cudaGetLastError();
}

}  // namespace ravel::kernels
