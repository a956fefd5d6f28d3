// RWKV-5.2 / RWKV-6 WKV (see ravel_kernels/wkv5.hpp).
#include <cuda_runtime.h>

#include "ravel_kernels/wkv5.hpp"

namespace ravel::kernels {

namespace {

// Sequence form: block = one head, thread j = value column j, S[:, j] in registers.
template <int N>
__global__ void __launch_bounds__(N)
    wkv5_sequence(int T, int C, const float* __restrict__ r, const float* __restrict__ k,
                  const float* __restrict__ v, const float* __restrict__ decay, int decay_stride,
                  const float* __restrict__ bonus, float* __restrict__ state,
                  float* __restrict__ y) {
    const int h = blockIdx.x, j = threadIdx.x;
    __shared__ float sr[N], sk[N], sw[N], su[N];
    float* S = state + static_cast<std::size_t>(h) * N * N;
    float s[N];
#pragma unroll
    for (int i = 0; i < N; ++i) s[i] = S[i * N + j];
    su[j] = bonus[h * N + j];
    for (int t = 0; t < T; ++t) {
        const std::size_t base = static_cast<std::size_t>(t) * C + static_cast<std::size_t>(h) * N;
        __syncthreads();  // the previous token's reads of the shared rows are done
        sr[j] = r[base + j];
        sk[j] = k[base + j];
        sw[j] = decay[static_cast<std::size_t>(t) * decay_stride + h * N + j];
        const float vj = v[base + j];
        __syncthreads();
        float out = 0.0f;
#pragma unroll
        for (int i = 0; i < N; ++i) {
            const float kv = sk[i] * vj;
            out += sr[i] * (su[i] * kv + s[i]);
            s[i] = kv + sw[i] * s[i];
        }
        y[base + j] = out;
    }
#pragma unroll
    for (int i = 0; i < N; ++i) S[i * N + j] = s[i];
}

// One-token form: block = one head, kSplit threads per value column j, each taking every
// kSplit-th key row; the partial sums meet through shuffles among adjacent lanes.
constexpr int kSplit = 4;

template <int N>
__global__ void __launch_bounds__(N* kSplit)
    wkv5_one(int C, const float* __restrict__ r, const float* __restrict__ k,
             const float* __restrict__ v, const float* __restrict__ decay,
             const float* __restrict__ bonus, float* __restrict__ state, float* __restrict__ y) {
    const int h = blockIdx.x;
    const int j = threadIdx.x / kSplit, part = threadIdx.x % kSplit;
    __shared__ float sr[N], sk[N], sw[N], su[N];
    const int hN = h * N;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        sr[i] = r[hN + i];
        sk[i] = k[hN + i];
        sw[i] = decay[hN + i];
        su[i] = bonus[hN + i];
    }
    __syncthreads();
    (void)C;
    float* S = state + static_cast<std::size_t>(h) * N * N;
    const float vj = v[hN + j];
    float out = 0.0f;
#pragma unroll
    for (int m = 0; m < N / kSplit; ++m) {
        const int i = part + kSplit * m;
        const float s = S[i * N + j];
        const float kv = sk[i] * vj;
        out += sr[i] * (su[i] * kv + s);
        S[i * N + j] = kv + sw[i] * s;
    }
#pragma unroll
    for (int o = 1; o < kSplit; o <<= 1) out += __shfl_xor_sync(0xffffffffu, out, o);
    if (part == 0) y[hN + j] = out;
}

template <int N>
void launch(int T, int H, const float* r, const float* k, const float* v, const float* decay,
            bool per_token, const float* bonus, float* state, float* y, cudaStream_t s,
            bool force_sequence) {
    const int C = H * N;
    if (T == 1 && !force_sequence) {
        wkv5_one<N><<<H, N * kSplit, 0, s>>>(C, r, k, v, decay, bonus, state, y);
    } else {
        wkv5_sequence<N><<<H, N, 0, s>>>(T, C, r, k, v, decay, per_token ? C : 0, bonus, state, y);
    }
}

}  // namespace

bool wkv5_supports(int n) {
    return n == 8 || n == 16 || n == 32 || n == 64 || n == 128;
}

Status wkv5(int T, int H, int N, const float* r, const float* k, const float* v, const float* decay,
            bool decay_per_token, const float* bonus, float* state, float* y, Stream stream,
            bool force_sequence) {
    if (T <= 0 || H <= 0) return cudaSuccess;
    auto s = static_cast<cudaStream_t>(stream);
    switch (N) {
        case 8:
            launch<8>(T, H, r, k, v, decay, decay_per_token, bonus, state, y, s, force_sequence);
            break;
        case 16:
            launch<16>(T, H, r, k, v, decay, decay_per_token, bonus, state, y, s, force_sequence);
            break;
        case 32:
            launch<32>(T, H, r, k, v, decay, decay_per_token, bonus, state, y, s, force_sequence);
            break;
        case 64:
            launch<64>(T, H, r, k, v, decay, decay_per_token, bonus, state, y, s, force_sequence);
            break;
        case 128:
            launch<128>(T, H, r, k, v, decay, decay_per_token, bonus, state, y, s, force_sequence);
            break;
        default:
            return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

}  // namespace ravel::kernels
