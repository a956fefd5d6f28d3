// RWKV-7 WKV (see ravel_kernels/wkv7.hpp); the update's association follows the CPU's.
#include <cuda_runtime.h>

#include "activation.cuh"
#include "ravel_kernels/wkv7.hpp"
#include "weight_format.cuh"

namespace ravel::kernels {

namespace {

// Sequence form: a block is one warp holding kRows value rows of one head (thread = row i,
// S[i, :] in registers); rows never interact, so no block-wide barrier is needed and a head's
// rows spread over several multiprocessors. The inputs of token t + 1 are loaded into
// registers while token t is computed: the time per token is then the arithmetic, not a global
// load's latency (the earlier one-block-per-head form spent ~1.2 us per token at H64 N64).
template <int N>
constexpr int kRows = N < 32 ? N : 32;

template <int N>
__global__ void __launch_bounds__(kRows<N>)
    wkv7_sequence(int T, int C, const float* __restrict__ r, const float* __restrict__ w,
                  const float* __restrict__ k, const float* __restrict__ v,
                  const float* __restrict__ kk, const float* __restrict__ a,
                  float* __restrict__ state, float* __restrict__ y) {
    constexpr int R = kRows<N>;
    constexpr int P = N / R;  // inputs each lane loads per token and array
    constexpr unsigned kMask = R == 32 ? 0xffffffffu : ((1u << R) - 1u);
    const int lane = threadIdx.x;
    const int h = blockIdx.x / (N / R);
    const int i = (blockIdx.x % (N / R)) * R + lane;
    __shared__ __align__(16) float sr[N], sw[N], sk[N], skk[N], ska[N];
    float* S = state + static_cast<std::size_t>(h) * N * N + static_cast<std::size_t>(i) * N;
    float s[N];
#pragma unroll
    for (int j = 0; j < N; ++j) s[j] = S[j];

    float nr[P], nw[P], nk[P], nkk[P], na[P], nv = 0.0f;
    auto prefetch = [&](int t) {
        const std::size_t base = static_cast<std::size_t>(t) * C + static_cast<std::size_t>(h) * N;
#pragma unroll
        for (int p = 0; p < P; ++p) {
            const std::size_t j = base + lane + p * R;
            nr[p] = r[j];
            nw[p] = w[j];
            nk[p] = k[j];
            nkk[p] = kk[j];
            na[p] = a[j];
        }
        nv = v[base + i];
    };
    prefetch(0);
    for (int t = 0; t < T; ++t) {
        __syncwarp(kMask);  // the previous token's reads of the shared inputs are done
#pragma unroll
        for (int p = 0; p < P; ++p) {
            const int j = lane + p * R;
            sr[j] = nr[p];
            sw[j] = nw[p];
            sk[j] = nk[p];
            skk[j] = nkk[p];
            ska[j] = nkk[p] * na[p];
        }
        const float vi = nv;
        if (t + 1 < T) prefetch(t + 1);
        __syncwarp(kMask);

        // sa = -(S kk), in four partial sums to shorten the dependency chain.
        float acc4[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int j = 0; j < N; j += 4) {
            const float4 q = *reinterpret_cast<const float4*>(skk + j);
            acc4[0] += s[j] * q.x;
            acc4[1] += s[j + 1] * q.y;
            acc4[2] += s[j + 2] * q.z;
            acc4[3] += s[j + 3] * q.w;
        }
        const float acc = -((acc4[0] + acc4[1]) + (acc4[2] + acc4[3]));
        float out4[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int j = 0; j < N; j += 4) {
            const float4 ww = *reinterpret_cast<const float4*>(sw + j);
            const float4 ka = *reinterpret_cast<const float4*>(ska + j);
            const float4 kx = *reinterpret_cast<const float4*>(sk + j);
            const float4 rr = *reinterpret_cast<const float4*>(sr + j);
            s[j] = s[j] * ww.x + acc * ka.x + vi * kx.x;
            s[j + 1] = s[j + 1] * ww.y + acc * ka.y + vi * kx.y;
            s[j + 2] = s[j + 2] * ww.z + acc * ka.z + vi * kx.z;
            s[j + 3] = s[j + 3] * ww.w + acc * ka.w + vi * kx.w;
            out4[0] += s[j] * rr.x;
            out4[1] += s[j + 1] * rr.y;
            out4[2] += s[j + 2] * rr.z;
            out4[3] += s[j + 3] * rr.w;
        }
        y[static_cast<std::size_t>(t) * C + static_cast<std::size_t>(h) * N + i] =
            (out4[0] + out4[1]) + (out4[2] + out4[3]);
    }
#pragma unroll
    for (int j = 0; j < N; ++j) S[j] = s[j];
}

// One-token form: kSplit adjacent lanes share value row i, each taking every kSplit-th key.
constexpr int kSplit = 4;

// One token's update of state row i, held as s (every kSplit-th key from `part`) and written
// back to S; returns y_i, summed over the row's kSplit lanes. Inputs from shared memory.
template <int N>
__device__ __forceinline__ float update_row(float (&s)[N / kSplit], float* __restrict__ S, int part,
                                            float vi, const float* sr, const float* sw,
                                            const float* sk, const float* skk, const float* sa) {
    constexpr int M = N / kSplit;
    float acc = 0.0f;
#pragma unroll
    for (int m = 0; m < M; ++m) acc -= s[m] * skk[part + kSplit * m];
#pragma unroll
    for (int o = 1; o < kSplit; o <<= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
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
    return out;
}

template <int N>
__global__ void __launch_bounds__(N* kSplit)
    wkv7_one(const float* __restrict__ r, const float* __restrict__ w, const float* __restrict__ k,
             const float* __restrict__ v, const float* __restrict__ kk, const float* __restrict__ a,
             float* __restrict__ state, float* __restrict__ y) {
    const int h = blockIdx.x;
    const int i = threadIdx.x / kSplit, part = threadIdx.x % kSplit;
    __shared__ float sr[N], sw[N], sk[N], skk[N], sa[N];
    const int hN = h * N;
    // The state loads are issued before the barrier so their latency overlaps the inputs'.
    float* S = state + static_cast<std::size_t>(h) * N * N + static_cast<std::size_t>(i) * N;
    constexpr int M = N / kSplit;
    float s[M];
#pragma unroll
    for (int m = 0; m < M; ++m) s[m] = S[part + kSplit * m];
    const float vi = v[hN + i];
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        sr[j] = r[hN + j];
        sw[j] = w[hN + j];
        sk[j] = k[hN + j];
        skk[j] = kk[hN + j];
        sa[j] = a[hN + j];
    }
    __syncthreads();
    const float out = update_row<N>(s, S, part, vi, sr, sw, sk, skk, sa);
    if (part == 0) y[hN + i] = out;
}

// Decoding, one block per head: RWKV-7's preparation, the kk normalisation, WKV and the
// GroupNorm output in one launch instead of four, each step with the formulas (and, for the
// reductions, the lane order) of its own kernel.
using dev::kV7DecayScale;
using dev::sigmoidf;
using dev::warp_sum;

template <int N>
__global__ void __launch_bounds__(N* kSplit) wkv7_decode_kernel(Wkv7Decode p) {
    const int h = blockIdx.x;
    const int hN = h * N;
    const int tid = threadIdx.x;
    const int lane = tid & 31;
    __shared__ float sr[N], sw[N], sk[N], skk[N], sa[N], sv[N], sy[N];
    __shared__ float s_inv, s_mean, s_gn_inv, s_bonus;

    // The state loads are issued first so their latency overlaps the preparation.
    const int i = tid / kSplit, part = tid % kSplit;
    float* S = p.state + static_cast<std::size_t>(h) * N * N + static_cast<std::size_t>(i) * N;
    constexpr int M = N / kSplit;
    float s[M];
#pragma unroll
    for (int m = 0; m < M; ++m) s[m] = S[part + kSplit * m];

    if (tid < N) {
        const int c = hN + tid;
        const float a = sigmoidf(p.a0[c] + p.a[c]);
        const float k = p.k[c];
        float v = p.v[c];
        if (p.vres != nullptr) v = v + (p.v_first[c] - v) * sigmoidf(p.v0[c] + p.vres[c]);
        if (p.first_layer) p.v_first[c] = v;
        sr[tid] = p.r[c];
        sw[tid] = expf(-kV7DecayScale * sigmoidf(p.w0[c] + p.w[c]));
        sa[tid] = a;
        skk[tid] = k * p.k_k[c];
        sk[tid] = k * (1.0f + (a - 1.0f) * p.k_a[c]);
        sv[tid] = v;
    }
    __syncthreads();
    if (tid < 32) {
        float q = 0.0f;
        for (int j = lane; j < N; j += 32) q = fmaf(skk[j], skk[j], q);
        const float inv = 1.0f / fmaxf(sqrtf(warp_sum(q)), p.norm_eps);
        if (lane == 0) s_inv = inv;
    }
    __syncthreads();
    if (tid < N) skk[tid] *= s_inv;
    __syncthreads();

    const float vi = sv[i];
    const float out = update_row<N>(s, S, part, vi, sr, sw, sk, skk, sa);
    if (part == 0) sy[i] = out;
    __syncthreads();

    if (tid < 32) {
        float sum = 0.0f;
        for (int j = lane; j < N; j += 32) sum += sy[j];
        const float mean = warp_sum(sum) / static_cast<float>(N);
        float q = 0.0f;
        for (int j = lane; j < N; j += 32) {
            const float d = sy[j] - mean;
            q = fmaf(d, d, q);
        }
        const float var = warp_sum(q) / static_cast<float>(N);
        float b = 0.0f;
        for (int j = lane; j < N; j += 32) b += sr[j] * sk[j] * p.r_k[hN + j];
        b = warp_sum(b);
        if (lane == 0) {
            s_mean = mean;
            s_gn_inv = 1.0f / sqrtf(var + p.group_norm_eps);
            s_bonus = b;
        }
    }
    __syncthreads();
    if (tid < N) {
        const int c = hN + tid;
        float o = (sy[tid] - s_mean) * s_gn_inv * p.ln_w[c] + p.ln_b[c];
        o += s_bonus * sv[tid];
        p.y[c] = o * p.g[c];
    }
}

template <int N>
void launch(int T, int H, const float* r, const float* w, const float* k, const float* v,
            const float* kk, const float* a, float* state, float* y, cudaStream_t s,
            bool force_sequence) {
    if (T == 1 && !force_sequence) {
        wkv7_one<N><<<H, N * kSplit, 0, s>>>(r, w, k, v, kk, a, state, y);
    } else {
        wkv7_sequence<N>
            <<<H*(N / kRows<N>), kRows<N>, 0, s>>>(T, H * N, r, w, k, v, kk, a, state, y);
    }
}

}  // namespace

bool wkv7_supports(int n) {
    return n == 8 || n == 16 || n == 32 || n == 64 || n == 128;
}

Status wkv7_decode(const Wkv7Decode& p, int H, int N, Stream stream) {
    if (H <= 0) return cudaSuccess;
    auto s = static_cast<cudaStream_t>(stream);
    switch (N) {
        case 8:
            wkv7_decode_kernel<8><<<H, 8 * kSplit, 0, s>>>(p);
            break;
        case 16:
            wkv7_decode_kernel<16><<<H, 16 * kSplit, 0, s>>>(p);
            break;
        case 32:
            wkv7_decode_kernel<32><<<H, 32 * kSplit, 0, s>>>(p);
            break;
        case 64:
            wkv7_decode_kernel<64><<<H, 64 * kSplit, 0, s>>>(p);
            break;
        case 128:
            wkv7_decode_kernel<128><<<H, 128 * kSplit, 0, s>>>(p);
            break;
        default:
            return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
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
