#include <algorithm>
#include <chrono>
#include <vector>

#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/weight_arena.hpp"
#include "ravel/machine.hpp"

namespace ravel {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
double read_bandwidth(float* data, std::size_t n, detail::ThreadPool& pool) {
    const detail::cpu::KernelTable& k = detail::cpu::kernels();
    pool.parallel_for(static_cast<std::int64_t>(n), 4096, [&](int, std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) data[i] = static_cast<float>(i & 1023) * 1e-3f;
    });
    std::vector<float> sums(static_cast<std::size_t>(pool.size()));
    auto read_pass = [&](std::size_t prefetch_ahead) {
        pool.parallel_for(
            static_cast<std::int64_t>(n), 4096, [&](int t, std::int64_t b, std::int64_t e) {
                sums[static_cast<std::size_t>(t)] +=
                    k.read_sum(data + b, static_cast<std::size_t>(e - b), prefetch_ahead);
            });
    };
    read_pass(0);  // warm up (page faults, caches)
    // Passes alternate between plain loads and loads with software prefetches as far ahead as
    // the decode kernels prefetch: from DRAM those read faster than the hardware prefetchers
    // alone (an f32 decode had read 1.05 of a limit probed without them), from the caches no
    // faster. The limit is the best pass of either kind.
    double best = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int pass = 0; seconds_since(start) < 0.5; ++pass) {
        const auto t0 = std::chrono::steady_clock::now();
        read_pass(pass % 2 == 0 ? 0 : detail::cpu::kDecodePrefetchBytes);
        best = std::max(best, static_cast<double>(n * sizeof(float)) / seconds_since(t0));
    }
    return best / 1e9;
}
}  // namespace

std::string cpu_kernel_isa() {
    return detail::cpu::kernels().isa;
}

MachineProbe probe_machine(std::size_t working_set_bytes, int threads) {
    const detail::cpu::KernelTable& k = detail::cpu::kernels();
    detail::ThreadPool pool(threads);
    MachineProbe probe;
    probe.isa = k.isa;
    probe.threads = pool.size();

    // In the same kind of memory as a model's weights (huge pages where offered), so the
    // bandwidth limit is the one the decode kernels read under.
    const std::size_t n = std::max<std::size_t>(working_set_bytes / sizeof(float), 1 << 20);
    if (auto buffer = detail::allocate_huge(n * sizeof(float))) {
        probe.read_bandwidth_gb_s = read_bandwidth(reinterpret_cast<float*>(buffer->data), n, pool);
    }

    constexpr long kIterations = 2'000'000;
    double flops_best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        std::vector<double> flops(static_cast<std::size_t>(pool.size()));
        const auto t0 = std::chrono::steady_clock::now();
        pool.parallel_for(pool.size(), 1, [&](int t, std::int64_t, std::int64_t) {
            flops[static_cast<std::size_t>(t)] = k.fma_loop(kIterations);
        });
        double total = 0;
        for (double f : flops) total += f;
        flops_best = std::max(flops_best, total / seconds_since(t0));
    }
    probe.fma_gflop_s = flops_best / 1e9;
    return probe;
}

}  // namespace ravel
