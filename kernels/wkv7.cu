// RWKV-7 WKV (see ravel_kernels/wkv7.hpp); the update's association follows the CPU's.
#include <cuda_runtime.h>

#include "ravel_kernels/wkv7.hpp"

namespace ravel::kernels {

namespace {

// Sequence form: block = one head, thread i = value row i, S[i, :] in registers.
template <int N>
__global__ void __launch_bounds__(N)
    wkv7_sequence(int T, int C, const float* __restrict__ r, const float* __restrict__ w,
                  const float* __restrict__ k, const float* __restrict__ v,
                  const float* __restrict__ kk, const float* __restrict__ a,
                  float* __restrict__ state, float* __restrict__ y) {
    const int h = blockIdx.x, i = threadIdx.x;
    __shared__ float sr[N], sw[N], sk[N], skk[N], sa[N];
    float* S = state + static_cast<std::size_t>(h) * N * N + static_cast<std::size_t>(i) * N;
    float s[N];
#pragma unroll
    for (int j = 0; j < N; ++j) s[j] = S[j];
    for (int t = 0; t < T; ++t) {
        const std::size_t base = static_cast<std::size_t>(t) * C + static_cast<std::size_t>(h) * N;
        __syncthreads();
        sr[i] = r[base + i];
        sw[i] = w[base + i];
        sk[i] = k[base + i];
        skk[i] = kk[base + i];
        sa[i] = a[base + i];
        const float vi = v[base + i];
        __syncthreads();
        float acc = 0.0f;
#pragma unroll
        for (int j = 0; j < N; ++j) acc -= s[j] * skk[j];
        float out = 0.0f;
#pragma unroll
        for (int j = 0; j < N; ++j) {
            s[j] = s[j] * sw[j] + acc * skk[j] * sa[j] + vi * sk[j];
            out += s[j] * sr[j];
        }
        y[base + i] = out;
    }
#pragma unroll
    for (int j = 0; j < N; ++j) S[j] = s[j];
}

// One-token form: kSplit adjacent lanes share value row i, each taking every kSplit-th key.
constexpr int kSplit = 4;

template <int N>
__global__ void __launch_bounds__(N* kSplit)
    wkv7_one(const float* __restrict__ r, const float* __restrict__ w, const float* __restrict__ k,
             const float* __restrict__ v, const float* __restrict__ kk, const float* __restrict__ a,
             float* __restrict__ state, float* __restrict__ y) {
    const int h = blockIdx.x;
    const int i = threadIdx.x / kSplit, part = threadIdx.x % kSplit;
    __shared__ float sr[N], sw[N], sk[N], skk[N], sa[N];
    const int hN = h * N;
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        sr[j] = r[hN + j];
        sw[j] = w[hN + j];
        sk[j] = k[hN + j];
        skk[j] = kk[hN + j];
        sa[j] = a[hN + j];
    }
    __syncthreads();
    float* S = state + static_cast<std::size_t>(h) * N * N + static_cast<std::size_t>(i) * N;
    constexpr int M = N / kSplit;
    float s[M];
    float acc = 0.0f;
#pragma unroll
    for (int m = 0; m < M; ++m) {
        const int j = part + kSplit * m;
        s[m] = S[j];
        acc -= s[m] * skk[j];
    }
#pragma unroll
    for (int o = 1; o < kSplit; o <<= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    const float vi = v[hN + i];
    float out = 0.0f;
#pragma unroll
    for (int m = 0; m < M; ++m) {
        const int j = part + kSplit * m;
        const float n = s[m] * sw[j] + acc * skk[j] * sa[j] + vi * sk[j];
        S[j] = n;
        out += n * sr[j];
    }
#pragma unroll
    for (int o = 1; o < kSplit; o <<= 1) out += __shfl_xor_sync(0xffffffffu, out, o);
    if (part == 0) y[hN + i] = out;
}

template <int N>
void launch(int T, int H, const float* r, const float* w, const float* k, const float* v,
            const float* kk, const float* a, float* state, float* y, cudaStream_t s,
            bool force_sequence) {
    if (T == 1 && !force_sequence) {
        wkv7_one<N><<<H, N * kSplit, 0, s>>>(r, w, k, v, kk, a, state, y);
    } else {
        wkv7_sequence<N><<<H, N, 0, s>>>(T, H * N, r, w, k, v, kk, a, state, y);
    }
}

}  // namespace

bool wkv7_supports(int n) {
    return n == 8 || n == 16 || n == 32 || n == 64 || n == 128;
}

Status wkv7(int T, int H, int N, const float* r, const float* w, const float* k, const float* v,
            const float* kk, const float* a, float* state, float* y, Stream stream,
            bool force_sequence) {
    if (T <= 0 || H <= 0) return cudaSuccess;
    auto s = static_cast<cudaStream_t>(stream);
    switch (N) {
        case 8:
            launch<8>(T, H, r, w, k, v, kk, a, state, y, s, force_sequence);
            break;
        case 16:
            launch<16>(T, H, r, w, k, v, kk, a, state, y, s, force_sequence);
            break;
        case 32:
            launch<32>(T, H, r, w, k, v, kk, a, state, y, s, force_sequence);
            break;
        case 64:
            launch<64>(T, H, r, w, k, v, kk, a, state, y, s, force_sequence);
            break;
        case 128:
            launch<128>(T, H, r, w, k, v, kk, a, state, y, s, force_sequence);
            break;
        default:
            return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

}  // namespace ravel::kernels
