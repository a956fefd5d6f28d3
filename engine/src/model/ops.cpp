#include "model/ops.hpp"

#include <algorithm>
#include <cstring>

#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"

namespace ravel::detail {

namespace {
// Below about this many values per block, handing work to the pool costs more than it saves.
constexpr std::size_t kMinParallelValues = 8192;
}  // namespace

void layer_norm(const float* x, const float* w, const float* b, float* y, int n, float eps) {
    cpu::kernels().layer_norm(x, w, b, y, n, eps);
}

void group_norm(float* x, const float* w, const float* b, int n, int groups, float eps) {
    const auto norm = cpu::kernels().layer_norm;
    const int g = n / groups;
    for (int h = 0; h < groups; ++h) norm(x + h * g, w + h * g, b + h * g, x + h * g, g, eps);
}

void parallel_rows(ThreadPool* pool, int rows, std::size_t per_row,
                   const std::function<void(int, int)>& fn) {
    if (rows <= 0) return;
    const std::size_t total = static_cast<std::size_t>(rows) * per_row;
    if (pool == nullptr || pool->size() == 1 || rows == 1 || total < 2 * kMinParallelValues) {
        fn(0, rows);
        return;
    }
    const std::int64_t grain = static_cast<std::int64_t>((kMinParallelValues + per_row - 1) /
                                                         std::max<std::size_t>(per_row, 1));
    pool->parallel_for_dynamic(rows, grain, [&](int /*thread*/, std::int64_t r0, std::int64_t r1) {
        fn(static_cast<int>(r0), static_cast<int>(r1));
    });
}

void prefetch_floats(const float* v, int n, bool now) {
    constexpr int kLineFloats = 16;
    for (int i = 0; i < n; i += kLineFloats) {
        if (now) {
            __builtin_prefetch(v + i, 0, 3);
        } else {
            __builtin_prefetch(v + i, 0, 2);
        }
    }
}

void norm_and_shift(const float* x, const float* ln_w, const float* ln_b, float* prev, int T, int n,
                    float* rows, ThreadPool* pool, std::span<const ShiftMix> next) {
    if (T <= 0) return;
    if (T <= cpu::kSmallBatch) {
        for (const float* v : {ln_w, ln_b, static_cast<const float*>(prev)})
            prefetch_floats(v, n, true);
        for (const ShiftMix& m : next) prefetch_floats(m.mix, n, true);
    }
    const auto norm = cpu::kernels().layer_norm;
    std::memcpy(rows, prev, sizeof(float) * n);
    float* xx = rows + n;
    parallel_rows(pool, T, static_cast<std::size_t>(n), [&](int t0, int t1) {
        for (int t = t0; t < t1; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * n;
            norm(x + o, ln_w, ln_b, xx + o, n, kLayerNormEps);
        }
    });
    std::memcpy(prev, xx + static_cast<std::size_t>(T - 1) * n, sizeof(float) * n);
}

void shift_mix(const float* xx, const float* sx, int T, int n, std::span<const ShiftMix> mixes,
               MixRule rule, ThreadPool* pool) {
    const cpu::KernelTable& k = cpu::kernels();
    const auto mix = rule == MixRule::Lerp ? k.lerp : k.mix;
    parallel_rows(pool, T, mixes.size() * static_cast<std::size_t>(n), [&](int t0, int t1) {
        for (int t = t0; t < t1; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * n;
            for (const ShiftMix& m : mixes) mix(xx + o, sx + o, m.mix, m.out + o, n);
        }
    });
}

void add_rows(float* x, const float* y, int T, int n, ThreadPool* pool) {
    const auto add = cpu::kernels().add;
    parallel_rows(pool, T, static_cast<std::size_t>(n), [&](int t0, int t1) {
        const std::size_t o = static_cast<std::size_t>(t0) * n;
        add(x + o, y + o, static_cast<int>(static_cast<std::size_t>(t1 - t0) * n));
    });
}

}  // namespace ravel::detail
