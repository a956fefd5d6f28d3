// Matrix-vector products (see ravel_kernels/matvec.hpp). One warp per weight row (several for
// one token and few rows): each lane reads 16 bytes of the row at a time (4 quant bytes of a
// quantized row), so a warp reads one contiguous run of the row per step; the T partial sums
// are reduced with shuffles.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "activation.cuh"
#include "ravel_kernels/matvec.hpp"
#include "weight_format.cuh"

namespace ravel::kernels {

namespace {

constexpr int kWarps = 8;  // rows per block

template <WType W>
constexpr bool is_quantized() {
    return W == WType::Q8_0 || W == WType::Q4_0 || W == WType::Q5_1;
}

// Values per chunk a lane reads at once: 16 bytes of f32/f16/bf16; for quantized rows one block
// (the unit of the row-layout check, chunk_path_fits).
template <WType W>
constexpr int chunk_values() {
    return W == WType::F32 ? 4 : (W == WType::F16 || W == WType::BF16) ? 8 : dev::kBlock;
}
template <WType W>
constexpr int chunk_bytes() {
    return (W == WType::F32 || W == WType::F16 || W == WType::BF16) ? 16 : dev::block_bytes<W>();
}

template <WType W>
__device__ __forceinline__ void load_chunk(const std::uint8_t* row, int j, float* v) {
    static_assert(!is_quantized<W>(), "quantized rows go through lane_values");
    if constexpr (W == WType::F32) {
        const float4 q = reinterpret_cast<const float4*>(row)[j];
        v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
    } else if constexpr (W == WType::F16 || W == WType::BF16) {
        const uint4 q = reinterpret_cast<const uint4*>(row)[j];
        const std::uint32_t words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const auto lo = static_cast<std::uint16_t>(words[i] & 0xffffu);
            const auto hi = static_cast<std::uint16_t>(words[i] >> 16);
            if constexpr (W == WType::F16) {
                v[2 * i] = dev::f16_bits(lo), v[2 * i + 1] = dev::f16_bits(hi);
            } else {
                v[2 * i] = dev::bf16_bits(lo), v[2 * i + 1] = dev::bf16_bits(hi);
            }
        }
    }
}

// Adds up a row's T partial sums over its lanes (and its SPLIT warps, in a fixed order) and
// writes act(y (+) sum). Every thread of the block calls it: it may hold a barrier.
template <int T, int SPLIT>
__device__ __forceinline__ void store_row(const float (&acc)[T], bool valid, int r,
                                          float* __restrict__ y, int ldy, int accumulate,
                                          Activation act) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int part = warp % SPLIT;
    if constexpr (SPLIT == 1) {
#pragma unroll
        for (int t = 0; t < T; ++t) {
            const float s = dev::warp_sum(acc[t]);
            if (lane == 0) {
                float* out = y + static_cast<std::size_t>(t) * ldy + r;
                *out = dev::activation(act, accumulate ? *out + s : s);
            }
        }
    } else {
        __shared__ float partial[kWarps][T];
#pragma unroll
        for (int t = 0; t < T; ++t) {
            const float s = dev::warp_sum(acc[t]);
            if (lane == 0) partial[warp][t] = s;
        }
        __syncthreads();
        if (valid && part == 0 && lane < T) {
            float s = 0.0f;
#pragma unroll
            for (int q = 0; q < SPLIT; ++q) s += partial[warp + q][lane];
            float* out = y + static_cast<std::size_t>(lane) * ldy + r;
            *out = dev::activation(act, accumulate ? *out + s : s);
        }
    }
}

// The fast path: rows and x are aligned for 16-byte loads and cols is a whole number of chunks.
// SPLIT warps share a row (each takes every SPLIT-th 32-chunk step, their sums added in a fixed
// order through shared memory): a matrix of few long rows (a LoRA's 64 x 4096) would otherwise
// run on a handful of blocks, each warp waiting on its row's loads one step at a time.
template <WType W, int T, int SPLIT>
__device__ __forceinline__ void matvec_chunks(const std::uint8_t* __restrict__ data,
                                              std::size_t row_bytes, int rows, int cols,
                                              const float* __restrict__ x, int ldx,
                                              float* __restrict__ y, int ldy, int accumulate,
                                              Activation act, int block) {
    constexpr int K = chunk_values<W>();
    static_assert(kWarps % SPLIT == 0);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int r = block * (kWarps / SPLIT) + warp / SPLIT;
    const int part = warp % SPLIT;
    const bool valid = r < rows;
    if (SPLIT == 1 && !valid) return;
    float acc[T];
#pragma unroll
    for (int t = 0; t < T; ++t) acc[t] = 0.0f;
    if (valid) {
        const std::uint8_t* row = data + static_cast<std::size_t>(r) * row_bytes;
        const int chunks = cols / K;
#pragma unroll 2
        for (int j = lane + 32 * part; j < chunks; j += 32 * SPLIT) {
            float wv[K];
            load_chunk<W>(row, j, wv);
#pragma unroll
            for (int t = 0; t < T; ++t) {
                const float4* xp = reinterpret_cast<const float4*>(
                    x + static_cast<std::size_t>(t) * ldx + static_cast<std::size_t>(j) * K);
                float s = 0.0f;
#pragma unroll
                for (int q = 0; q < K / 4; ++q) {
                    const float4 xv = xp[q];
                    s = fmaf(wv[4 * q], xv.x, s);
                    s = fmaf(wv[4 * q + 1], xv.y, s);
                    s = fmaf(wv[4 * q + 2], xv.z, s);
                    s = fmaf(wv[4 * q + 3], xv.w, s);
                }
                acc[t] += s;
            }
        }
    }
    store_row<T, SPLIT>(acc, valid, r, y, ldy, accumulate, act);
}

// Quantized rows, several lanes per block: each lane takes 4 bytes of a block's quants (two
// 16-bit loads, as blocks are only 2-byte aligned) and the block's scale, so a warp reads
// whole runs of consecutive blocks per step. One lane per 34-byte block (byte loads, lanes 34
// bytes apart) ran q8_0 at 660-750 GB/s on an H200 where f16 rows reach 3900.
template <WType W>
constexpr int lanes_per_block() {
    return W == WType::Q8_0 ? 8 : 4;  // 4 int8 values per lane, or 8 nibbles
}
template <WType W>
constexpr int values_per_lane() {
    return dev::kBlock / lanes_per_block<W>();
}

__device__ __forceinline__ std::uint32_t load_u32_2aligned(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(dev::load_u16(p)) |
           (static_cast<std::uint32_t>(dev::load_u16(p + 2)) << 16);
}

// The values lane `sub` holds of a block and where they sit in it: q8_0 values 4 sub .. +3;
// q4_0 / q5_1 values 4 sub .. +3 (low nibbles) then 16 + 4 sub .. +3 (high nibbles).
template <WType W>
__device__ __forceinline__ void lane_values(const std::uint8_t* b, int sub, float* v) {
    const float d = dev::f16_bits(dev::load_u16(b));
    if constexpr (W == WType::Q8_0) {
        const std::uint32_t q = load_u32_2aligned(b + 2 + 4 * sub);
#pragma unroll
        for (int i = 0; i < 4; ++i)
            v[i] = d * static_cast<float>(static_cast<std::int8_t>((q >> (8 * i)) & 0xffu));
    } else if constexpr (W == WType::Q4_0) {
        const std::uint32_t q = load_u32_2aligned(b + 2 + 4 * sub);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const std::uint32_t byte = (q >> (8 * i)) & 0xffu;
            v[i] = d * static_cast<float>(static_cast<int>(byte & 0xfu) - 8);
            v[4 + i] = d * static_cast<float>(static_cast<int>(byte >> 4) - 8);
        }
    } else {
        const float m = dev::f16_bits(dev::load_u16(b + 2));
        const std::uint32_t qh = load_u32_2aligned(b + 4);
        const std::uint32_t q = load_u32_2aligned(b + 8 + 4 * sub);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int j = 4 * sub + i;
            const std::uint32_t byte = (q >> (8 * i)) & 0xffu;
            const int lo = static_cast<int>((byte & 0xfu) | (((qh >> j) & 1u) << 4));
            const int hi = static_cast<int>((byte >> 4) | (((qh >> (j + 16)) & 1u) << 4));
            v[i] = d * static_cast<float>(lo) + m;
            v[4 + i] = d * static_cast<float>(hi) + m;
        }
    }
}

template <WType W, int T, int SPLIT>
__device__ __forceinline__ void matvec_blocks(const std::uint8_t* __restrict__ data,
                                              std::size_t row_bytes, int rows, int cols,
                                              const float* __restrict__ x, int ldx,
                                              float* __restrict__ y, int ldy, int accumulate,
                                              Activation act, int block) {
    constexpr int L = lanes_per_block<W>();
    constexpr int V = values_per_lane<W>();
    constexpr int kBlocksPerStep = 32 / L;
    static_assert(kWarps % SPLIT == 0);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int r = block * (kWarps / SPLIT) + warp / SPLIT;
    const int part = warp % SPLIT;
    const bool valid = r < rows;
    if (SPLIT == 1 && !valid) return;
    const int sub = lane % L;
    float acc[T];
#pragma unroll
    for (int t = 0; t < T; ++t) acc[t] = 0.0f;
    if (valid) {
        const std::uint8_t* row = data + static_cast<std::size_t>(r) * row_bytes;
        const int blocks = cols / dev::kBlock;
#pragma unroll 2
        for (int blk = lane / L + kBlocksPerStep * part; blk < blocks;
             blk += kBlocksPerStep * SPLIT) {
            float wv[V];
            lane_values<W>(row + static_cast<std::size_t>(blk) * dev::block_bytes<W>(), sub, wv);
#pragma unroll
            for (int t = 0; t < T; ++t) {
                const float* xb = x + static_cast<std::size_t>(t) * ldx +
                                  static_cast<std::size_t>(blk) * dev::kBlock + 4 * sub;
                const float4 x0 = *reinterpret_cast<const float4*>(xb);
                float s = acc[t];
                s = fmaf(wv[0], x0.x, s);
                s = fmaf(wv[1], x0.y, s);
                s = fmaf(wv[2], x0.z, s);
                s = fmaf(wv[3], x0.w, s);
                if constexpr (V == 8) {
                    const float4 x1 = *reinterpret_cast<const float4*>(xb + 16);
                    s = fmaf(wv[4], x1.x, s);
                    s = fmaf(wv[5], x1.y, s);
                    s = fmaf(wv[6], x1.z, s);
                    s = fmaf(wv[7], x1.w, s);
                }
                acc[t] = s;
            }
        }
    }
    store_row<T, SPLIT>(acc, valid, r, y, ldy, accumulate, act);
}

// `rows` weight rows from `block` on: floating-point rows stream 16-byte chunks, quantized rows
// go block by block.
template <WType W, int T, int SPLIT>
__device__ __forceinline__ void matvec_rows(const std::uint8_t* data, std::size_t row_bytes,
                                            int rows, int cols, const float* x, int ldx, float* y,
                                            int ldy, int accumulate, Activation act, int block) {
    if constexpr (is_quantized<W>()) {
        matvec_blocks<W, T, SPLIT>(data, row_bytes, rows, cols, x, ldx, y, ldy, accumulate, act,
                                   block);
    } else {
        matvec_chunks<W, T, SPLIT>(data, row_bytes, rows, cols, x, ldx, y, ldy, accumulate, act,
                                   block);
    }
}

template <WType W, int T, int SPLIT>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_kernel(const std::uint8_t* __restrict__ data, std::size_t row_bytes, int rows, int cols,
                  const float* __restrict__ x, int ldx, float* __restrict__ y, int ldy,
                  int accumulate, Activation act) {
    matvec_rows<W, T, SPLIT>(data, row_bytes, rows, cols, x, ldx, y, ldy, accumulate, act,
                             blockIdx.x);
}

// Several one-token products side by side: each thread block belongs to one job (its rows
// start at job_block[j]), so one launch does what `count` launches did.
struct GroupJob {
    const std::uint8_t* data;
    std::size_t row_bytes;
    int rows, cols;
    const float* x;
    float* y;
    int accumulate;
    Activation act;
};
struct GroupParams {
    GroupJob jobs[kMaxMatvecJobs];
    int job_block[kMaxMatvecJobs + 1];
    int count;
};

template <WType W, int SPLIT>
__global__ void __launch_bounds__(kWarps * 32) matvec_group_kernel(GroupParams p) {
    int j = 0;
    while (j + 1 < p.count && static_cast<int>(blockIdx.x) >= p.job_block[j + 1]) ++j;
    const GroupJob& job = p.jobs[j];
    matvec_rows<W, 1, SPLIT>(job.data, job.row_bytes, job.rows, job.cols, job.x, job.cols, job.y,
                             job.rows, job.accumulate, job.act,
                             static_cast<int>(blockIdx.x) - p.job_block[j]);
}

// The general path: any alignment and width, one value at a time.
__global__ void matvec_scalar(WeightView w, const float* __restrict__ x, int ldx, int T,
                              float* __restrict__ y, int ldy, int accumulate, Activation act) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * kWarps + (threadIdx.x >> 5);
    if (r >= w.rows) return;
    const auto* row =
        static_cast<const std::uint8_t*>(w.data) + static_cast<std::size_t>(r) * w.row_bytes;
    for (int t = 0; t < T; ++t) {
        const float* xt = x + static_cast<std::size_t>(t) * ldx;
        float s = 0.0f;
        for (int c = lane; c < w.cols; c += 32)
            s = fmaf(dev::load_weight(w.type, row, c), xt[c], s);
        s = dev::warp_sum(s);
        if (lane == 0) {
            float* out = y + static_cast<std::size_t>(t) * ldy + r;
            *out = dev::activation(act, accumulate ? *out + s : s);
        }
    }
}

__global__ void gather_kernel(WeightView emb, const int* __restrict__ tokens,
                              float* __restrict__ out) {
    const int t = blockIdx.x;
    const int token = tokens[t];
    const auto* row = static_cast<const std::uint8_t*>(emb.data) +
                      static_cast<std::size_t>(token) * emb.row_bytes;
    float* o = out + static_cast<std::size_t>(t) * emb.cols;
    for (int c = threadIdx.x; c < emb.cols; c += blockDim.x)
        o[c] = dev::load_weight(emb.type, row, c);
}

bool aligned16(const void* p) {
    return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0;
}

template <WType W, int T, int SPLIT = 1>
void launch_rows(const WeightView& w, const float* x, int ldx, float* y, int ldy, int acc,
                 Activation act, cudaStream_t s) {
    constexpr int kRowsPerBlock = kWarps / SPLIT;
    const dim3 grid((w.rows + kRowsPerBlock - 1) / kRowsPerBlock);
    matvec_kernel<W, T, SPLIT>
        <<<grid, kWarps * 32, 0, s>>>(static_cast<const std::uint8_t*>(w.data), w.row_bytes, w.rows,
                                      w.cols, x, ldx, y, ldy, acc, act);
}

// Warps per row for one token: enough warps in flight to cover the memory latency (16384 fill
// the largest GPUs), but never fewer than kMinSteps steps of 32 chunks per warp: a warp that
// makes one step spends most of its life starting and reducing (on an H200, 2048-wide f16
// products split to one step per warp ran well under the 2.8 TB/s of a four-step split).
constexpr long long kMinSteps = 4;
template <WType W>
int split_for(const WeightView& w) {
    constexpr long long kWarpsWanted = 16384;
    constexpr bool quantized = is_quantized<W>();
    // Per warp step: one chunk per lane, or (quantized) 32 / lanes_per_block blocks per warp,
    // counted here in lane-sized pieces so the same rule applies.
    const long long chunks = quantized ? w.cols / values_per_lane<W>() : w.cols / chunk_values<W>();
    int split = 1;
    while (split < kWarps && static_cast<long long>(w.rows) * split * 2 <= kWarpsWanted &&
           chunks >= 32LL * kMinSteps * split * 2)
        split *= 2;
    return split;
}

template <WType W>
void launch_type(const WeightView& w, const float* x, int ldx, int T, float* y, int ldy, int acc,
                 Activation act, cudaStream_t s) {
    switch (T) {
        case 1:
            switch (split_for<W>(w)) {
                case 1:
                    launch_rows<W, 1, 1>(w, x, ldx, y, ldy, acc, act, s);
                    break;
                case 2:
                    launch_rows<W, 1, 2>(w, x, ldx, y, ldy, acc, act, s);
                    break;
                case 4:
                    launch_rows<W, 1, 4>(w, x, ldx, y, ldy, acc, act, s);
                    break;
                default:
                    launch_rows<W, 1, 8>(w, x, ldx, y, ldy, acc, act, s);
                    break;
            }
            break;
        case 2:
            launch_rows<W, 2>(w, x, ldx, y, ldy, acc, act, s);
            break;
        case 3:
            launch_rows<W, 3>(w, x, ldx, y, ldy, acc, act, s);
            break;
        case 4:
            launch_rows<W, 4>(w, x, ldx, y, ldy, acc, act, s);
            break;
        case 5:
            launch_rows<W, 5>(w, x, ldx, y, ldy, acc, act, s);
            break;
        case 6:
            launch_rows<W, 6>(w, x, ldx, y, ldy, acc, act, s);
            break;
        case 7:
            launch_rows<W, 7>(w, x, ldx, y, ldy, acc, act, s);
            break;
        default:
            launch_rows<W, 8>(w, x, ldx, y, ldy, acc, act, s);
            break;
    }
}

template <WType W>
bool chunk_path_fits(const WeightView& w, const float* x, int ldx) {
    constexpr int K = chunk_values<W>();
    const bool plain = W == WType::F32 || W == WType::F16 || W == WType::BF16;
    return w.cols % K == 0 && ldx % 4 == 0 && aligned16(x) &&
           (!plain || (w.row_bytes % 16 == 0 && aligned16(w.data))) &&
           (plain || w.row_bytes == static_cast<std::size_t>(w.cols / K) * chunk_bytes<W>());
}

template <WType W>
void launch_group(const MatvecJob* jobs, const int* pick, int count, cudaStream_t s) {
    int split = kWarps;
    for (int i = 0; i < count; ++i) split = std::min(split, split_for<W>(jobs[pick[i]].w));
    const int rows_per_block = kWarps / split;
    GroupParams p{};
    p.count = count;
    int blocks = 0;
    for (int i = 0; i < count; ++i) {
        const MatvecJob& j = jobs[pick[i]];
        p.jobs[i] = {static_cast<const std::uint8_t*>(j.w.data),
                     j.w.row_bytes,
                     j.w.rows,
                     j.w.cols,
                     j.x,
                     j.y,
                     j.accumulate ? 1 : 0,
                     j.act};
        p.job_block[i] = blocks;
        blocks += (j.w.rows + rows_per_block - 1) / rows_per_block;
    }
    p.job_block[count] = blocks;
    switch (split) {
        case 1:
            matvec_group_kernel<W, 1><<<blocks, kWarps * 32, 0, s>>>(p);
            break;
        case 2:
            matvec_group_kernel<W, 2><<<blocks, kWarps * 32, 0, s>>>(p);
            break;
        case 4:
            matvec_group_kernel<W, 4><<<blocks, kWarps * 32, 0, s>>>(p);
            break;
        default:
            matvec_group_kernel<W, 8><<<blocks, kWarps * 32, 0, s>>>(p);
            break;
    }
}

// Calls f with the weight type as a compile-time constant (std::integral_constant).
template <class F>
decltype(auto) with_type(WType type, F&& f) {
    switch (type) {
        case WType::F16:
            return f(std::integral_constant<WType, WType::F16>{});
        case WType::BF16:
            return f(std::integral_constant<WType, WType::BF16>{});
        case WType::Q8_0:
            return f(std::integral_constant<WType, WType::Q8_0>{});
        case WType::Q5_1:
            return f(std::integral_constant<WType, WType::Q5_1>{});
        case WType::Q4_0:
            return f(std::integral_constant<WType, WType::Q4_0>{});
        case WType::F32:
            break;
    }
    return f(std::integral_constant<WType, WType::F32>{});
}

bool group_fits(const MatvecJob& j) {
    return with_type(j.w.type, [&](auto type) {
        return chunk_path_fits<decltype(type)::value>(j.w, j.x, j.w.cols);
    });
}

}  // namespace

Status matvec(const WeightView& w, const float* x, int ldx, int T, float* y, int ldy,
              bool accumulate, Stream stream, Activation act) {
    if (T < 1 || T > kMatvecMaxTokens) return cudaErrorInvalidValue;
    if (w.rows == 0) return cudaSuccess;
    auto s = static_cast<cudaStream_t>(stream);
    const int acc = accumulate ? 1 : 0;
    const bool done = with_type(w.type, [&](auto type) {
        constexpr WType W = decltype(type)::value;
        if (!chunk_path_fits<W>(w, x, ldx)) return false;
        launch_type<W>(w, x, ldx, T, y, ldy, acc, act, s);
        return true;
    });
    if (!done) {
        const dim3 grid((w.rows + kWarps - 1) / kWarps);
        matvec_scalar<<<grid, kWarps * 32, 0, s>>>(w, x, ldx, T, y, ldy, acc, act);
    }
    return cudaGetLastError();
}

Status matvec_group(const MatvecJob* jobs, int count, Stream stream) {
    if (count < 0 || count > kMaxMatvecJobs) return cudaErrorInvalidValue;
    auto s = static_cast<cudaStream_t>(stream);
    // One launch per weight type among the jobs that fit the fast path; the rest one by one.
    constexpr WType kTypes[] = {WType::F32,  WType::F16,  WType::BF16,
                                WType::Q8_0, WType::Q5_1, WType::Q4_0};
    bool grouped[kMaxMatvecJobs] = {};
    for (WType type : kTypes) {
        int pick[kMaxMatvecJobs];
        int n = 0;
        for (int i = 0; i < count; ++i) {
            if (jobs[i].w.type == type && jobs[i].w.rows > 0 && group_fits(jobs[i])) {
                pick[n++] = i;
                grouped[i] = true;
            }
        }
        if (n == 0) continue;
        with_type(type, [&](auto t) { launch_group<decltype(t)::value>(jobs, pick, n, s); });
        if (auto e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    for (int i = 0; i < count; ++i) {
        if (grouped[i]) continue;
        const MatvecJob& j = jobs[i];
        if (auto e = matvec(j.w, j.x, j.w.cols, 1, j.y, j.w.rows, j.accumulate, stream, j.act);
            e != cudaSuccess)
            return e;
    }
    return cudaSuccess;
}

Status gather_rows(const WeightView& emb, const int* tokens, int T, float* out, Stream stream) {
    if (T <= 0) return cudaSuccess;
    gather_kernel<<<T, 256, 0, static_cast<cudaStream_t>(stream)>>>(emb, tokens, out);
    return cudaGetLastError();
}

}  // namespace ravel::kernels
