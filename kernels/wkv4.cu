// RWKV-4 WKV (see ravel_kernels/wkv4.hpp); the arithmetic is the CPU time_mix_v4's, line by
// line.
#include <cuda_runtime.h>

#include "ravel_kernels/wkv4.hpp"

namespace ravel::kernels {

namespace {

__global__ void wkv4_kernel(int T, int C, const float* __restrict__ decay,
                            const float* __restrict__ bonus, const float* __restrict__ k,
                            const float* __restrict__ v, const float* __restrict__ r,
                            float* __restrict__ aa, float* __restrict__ bb, float* __restrict__ pp,
                            float* __restrict__ y) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float a = aa[c], b = bb[c], p = pp[c];
    const float w = decay[c], u = bonus[c];
    for (int t = 0; t < T; ++t) {
        const std::size_t i = static_cast<std::size_t>(t) * C + c;
        const float kt = k[i], vt = v[i];
        float ww = u + kt;
        float q = fmaxf(p, ww);
        float e1 = expf(p - q);
        float e2 = expf(ww - q);
        y[i] = (1.0f / (1.0f + expf(-r[i]))) * (e1 * a + e2 * vt) / (e1 * b + e2);
        ww = w + p;
        q = fmaxf(ww, kt);
        e1 = expf(ww - q);
        e2 = expf(kt - q);
        a = e1 * a + e2 * vt;
        b = e1 * b + e2;
        p = q;
    }
    aa[c] = a, bb[c] = b, pp[c] = p;
}

}  // namespace

Status wkv4(int T, int C, const float* decay, const float* bonus, const float* k, const float* v,
            const float* r, float* aa, float* bb, float* pp, float* y, Stream stream) {
    if (T <= 0 || C <= 0) return cudaSuccess;
    constexpr int kThreads = 128;
    wkv4_kernel<<<(C + kThreads - 1) / kThreads, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        T, C, decay, bonus, k, v, r, aa, bb, pp, y);
    return cudaGetLastError();
}

}  // namespace ravel::kernels
