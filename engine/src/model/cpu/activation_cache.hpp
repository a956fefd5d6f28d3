// A few buffers per thread for the decode kernels' quantized activations, kept across the
// grains a thread runs in one parallel region: quantizing 768 activations costs about 0.4 us and
// 3072 about 1.2 us, as much as streaming 10-30 KB of q4_0 weights, so a region cut into grains
// would otherwise pay it per grain.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ravel::detail::cpu {

struct ActivationCache {
    // What the buffer holds: the quantization `kind` of `tokens` rows of `cols` values at `x`,
    // made in region `region` (ThreadPool::current_region; 0 = nothing valid).
    const float* x = nullptr;
    int cols = 0;
    int tokens = 0;
    int kind = 0;
    std::uint64_t region = 0;
    std::byte* data = nullptr;  // 64-byte aligned

    bool holds(const float* x_, int cols_, int tokens_, int kind_, std::uint64_t region_) const {
        return region_ != 0 && region == region_ && x == x_ && cols == cols_ && tokens == tokens_ &&
               kind == kind_;
    }
};

// ThreadPool::current_region() for the kernel files, which include no standard-library
// templates (see simd_kernels.inl).
std::uint64_t current_region();

// Quantized activations a thread keeps at once: a region whose grains span products of
// different inputs (RWKV-5.2/6/7 decoding: the receptance, key, value and gate projections in
// one group) quantizes each input once, also when a thread that ran out of its own grains takes
// some of another input's from the back of the other thread's share.
constexpr int kActivationCacheSlots = 4;

// One of the calling thread's caches, with a buffer of at least `bytes`: the one last filled
// for `x` if any, else the one used longest ago. Null when the buffer can't be had (callers
// then quantize into their own stack buffer). Compiled for the baseline ISA.
ActivationCache* activation_cache(std::size_t bytes, const float* x);

}  // namespace ravel::detail::cpu
