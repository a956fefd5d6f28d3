#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "model/cpu/cpu_topology.hpp"
#include "model/cpu/kernels.hpp"
#include "model/cpu/read_pass.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/weight_arena.hpp"
#include "ravel/machine.hpp"
#include "ravel/session.hpp"

namespace ravel {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

namespace detail {
double read_pass(const float* data, std::size_t n, std::size_t prefetch_ahead, ThreadPool& pool,
                 std::vector<float>& sums, PassSplit split) {
    const cpu::KernelTable& k = cpu::kernels();
    // A cache line per thread: an on-demand pass adds up every 16 KiB grain, and threads whose
    // sums shared a line would hand it back and forth as often.
    struct alignas(64) LineSum {
        float value = 0;
    };
    std::vector<LineSum> line_sums(sums.size());
    const auto read = [&](int t, std::int64_t b, std::int64_t e) {
        line_sums[static_cast<std::size_t>(t)].value +=
            k.read_sum(data + b, static_cast<std::size_t>(e - b), prefetch_ahead);
    };
    const auto t0 = std::chrono::steady_clock::now();
    if (split == PassSplit::OnDemand) {
        pool.parallel_for_dynamic(static_cast<std::int64_t>(n), 4096, read);
    } else {
        pool.parallel_for(static_cast<std::int64_t>(n), 4096, read);
    }
    const double seconds = seconds_since(t0);
    for (std::size_t i = 0; i < sums.size(); ++i) sums[i] += line_sums[i].value;
    return seconds;
}
}  // namespace detail

namespace {
void fill(float* data, std::size_t n, detail::ThreadPool& pool) {
    pool.parallel_for(static_cast<std::int64_t>(n), 4096, [&](int, std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) data[i] = static_cast<float>(i & 1023) * 1e-3f;
    });
}

double read_bandwidth(float* data, std::size_t n, detail::ThreadPool& pool) {
    fill(data, n, pool);
    std::vector<float> sums(static_cast<std::size_t>(pool.size()));
    detail::read_pass(data, n, 0, pool, sums);  // warm up (page faults, caches)
    // Passes alternate between plain loads and loads with software prefetches as far ahead as
    // the decode kernels prefetch: from DRAM those read faster than the hardware prefetchers
    // alone (an f32 decode had read 1.05 of a limit probed without them), from the caches no
    // faster. The limit is the best pass of either kind.
    double best = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int pass = 0; seconds_since(start) < 0.5; ++pass) {
        const double s = detail::read_pass(
            data, n, pass % 2 == 0 ? 0 : detail::cpu::kDecodePrefetchBytes, pool, sums);
        best = std::max(best, static_cast<double>(n * sizeof(float)) / s);
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
    // bandwidth limit is the one the decode kernels read under. At most half the memory still
    // available: beside a loaded model a buffer as large as its weights could bring the
    // out-of-memory killer, and any buffer far beyond the caches reads at the same rate.
    std::size_t bytes = working_set_bytes;
    if (const auto available = detail::memory_available("/proc/meminfo")) {
        bytes = std::min<std::size_t>(bytes, *available / 2);
    }
    const std::size_t n = std::max<std::size_t>(bytes / sizeof(float), 1 << 20);
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

struct ReadPasses::Impl {
    detail::ArenaBlock buffer;
    std::size_t n = 0;
    std::vector<float> sums;
};

Result<ReadPasses> ReadPasses::create(std::size_t bytes) {
    // The pages are touched at once, so a buffer the machine can't give would not fail here
    // but bring the out-of-memory killer, which might pick the process holding the model.
    // A quarter of what is available stays free for everything else.
    if (const auto available = detail::memory_available("/proc/meminfo");
        available && bytes > *available / 4 * 3) {
        return make_error("not enough free memory for a read buffer of " +
                          std::to_string(bytes >> 20) + " MiB (" +
                          std::to_string(*available >> 20) + " MiB available)");
    }
    auto impl = std::make_unique<Impl>();
    impl->n = std::max<std::size_t>(bytes / sizeof(float), 1);
    auto buffer = detail::allocate_huge(impl->n * sizeof(float));
    if (!buffer) return buffer.error();
    impl->buffer = std::move(*buffer);
    detail::ThreadPool one(1);
    fill(reinterpret_cast<float*>(impl->buffer.data), impl->n, one);
    return ReadPasses(std::move(impl));
}

ReadPasses::ReadPasses(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReadPasses::ReadPasses(ReadPasses&&) noexcept = default;
ReadPasses& ReadPasses::operator=(ReadPasses&&) noexcept = default;
ReadPasses::~ReadPasses() = default;

double ReadPasses::pass(Session& session) {
    detail::ThreadPool& pool = session.cpu_pool();
    impl_->sums.resize(static_cast<std::size_t>(pool.size()));
    // With prefetches, as the decode kernels read.
    return detail::read_pass(reinterpret_cast<const float*>(impl_->buffer.data), impl_->n,
                             detail::cpu::kDecodePrefetchBytes, pool, impl_->sums,
                             detail::PassSplit::OnDemand);
}

std::size_t ReadPasses::bytes() const {
    return impl_->n * sizeof(float);
}

}  // namespace ravel
