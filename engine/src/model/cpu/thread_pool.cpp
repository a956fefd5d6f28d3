#include "model/cpu/thread_pool.hpp"

#include <algorithm>

#include "ravel/machine.hpp"

namespace ravel::detail {

namespace {
// Spinning briefly before sleeping keeps the hand-off between the ~100 parallel regions of a
// token in the microseconds; sleeping afterwards keeps idle sessions off the CPU.
constexpr int kSpinIterations = 4000;

// Region numbers come from one counter for all pools: a caller may run regions on several.
std::atomic<std::uint64_t> next_region{1};
thread_local std::uint64_t tls_region = 0;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
    if (threads <= 0) threads = default_thread_count();
    threads = std::min(threads, 256);
    shares_ = std::make_unique<Share[]>(static_cast<std::size_t>(threads));
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

namespace {
constexpr std::uint64_t pack(std::uint64_t front, std::uint64_t back) {
    return front << 32 | back;
}
}  // namespace

std::uint64_t ThreadPool::current_region() {
    return tls_region;
}

void ThreadPool::run_share(int index, std::uint64_t region) {
    struct Scope {
        explicit Scope(std::uint64_t r) { tls_region = r; }
        ~Scope() { tls_region = 0; }
    } scope(region);
    if (dynamic_) {
        run_dynamic(index);
        return;
    }
    const std::uint64_t share =
        shares_[static_cast<std::size_t>(index)].range.load(std::memory_order_relaxed);
    const std::int64_t begin = std::min(n_, static_cast<std::int64_t>(share >> 32) * grain_);
    const std::int64_t end = std::min(n_, static_cast<std::int64_t>(share & 0xffffffffu) * grain_);
    if (begin < end) (*job_)(index, begin, end);
}

void ThreadPool::run_dynamic(int index) {
    auto run_grain = [&](std::int64_t g) {
        (*job_)(index, g * grain_, std::min(n_, (g + 1) * grain_));
    };
    // Own share, from the front.
    std::atomic<std::uint64_t>& own = shares_[static_cast<std::size_t>(index)].range;
    for (std::uint64_t s = own.load(std::memory_order_acquire);;) {
        const std::uint64_t front = s >> 32, back = s & 0xffffffffu;
        if (front >= back) break;
        if (own.compare_exchange_weak(s, pack(front + 1, back), std::memory_order_acq_rel)) {
            run_grain(static_cast<std::int64_t>(front));
            s = own.load(std::memory_order_acquire);
        }
    }
    // Then the others' shares, from the back.
    for (int v = 1; v < participants_; ++v) {
        std::atomic<std::uint64_t>& other =
            shares_[static_cast<std::size_t>((index + v) % participants_)].range;
        for (std::uint64_t s = other.load(std::memory_order_acquire);;) {
            const std::uint64_t front = s >> 32, back = s & 0xffffffffu;
            if (front >= back) break;
            if (other.compare_exchange_weak(s, pack(front, back - 1), std::memory_order_acq_rel)) {
                run_grain(static_cast<std::int64_t>(back - 1));
                s = other.load(std::memory_order_acquire);
            }
        }
    }
}

void ThreadPool::worker_loop(int index) {
    std::uint64_t seen = 0;
    for (;;) {
        std::uint64_t g = generation_.load(std::memory_order_acquire);
        for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
            cpu_relax();
            g = generation_.load(std::memory_order_acquire);
        }
        while (g == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            g = generation_.load(std::memory_order_acquire);
        }
        seen = g;
        if (stop_.load()) return;
        if (index < participants_) run_share(index, region_);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
}

void ThreadPool::parallel_for(std::int64_t n, std::int64_t grain,
                              const std::function<void(int, std::int64_t, std::int64_t)>& fn) {
    run(n, grain, fn, false);
}

void ThreadPool::parallel_for_dynamic(
    std::int64_t n, std::int64_t grain,
    const std::function<void(int, std::int64_t, std::int64_t)>& fn) {
    run(n, grain, fn, true);
}

void ThreadPool::run(std::int64_t n, std::int64_t grain,
                     const std::function<void(int, std::int64_t, std::int64_t)>& fn, bool dynamic) {
    if (n <= 0) return;
    grain = std::max<std::int64_t>(1, grain);
    const std::int64_t blocks = (n + grain - 1) / grain;
    if (workers_.empty() || blocks == 1) {
        fn(0, 0, n);
        return;
    }
    job_ = &fn;
    n_ = n;
    grain_ = grain;
    participants_ = static_cast<int>(std::min<std::int64_t>(blocks, size()));
    dynamic_ = dynamic;
    region_ = next_region.fetch_add(1, std::memory_order_relaxed);
    // Each participant's share of the grains, contiguous and as even as can be: the whole
    // work of a static region, the starting point of a dynamic one.
    const std::int64_t per = blocks / participants_, extra = blocks % participants_;
    for (int i = 0; i < participants_; ++i) {
        const std::int64_t first = i * per + std::min<std::int64_t>(i, extra);
        const std::int64_t count = per + (i < extra ? 1 : 0);
        shares_[static_cast<std::size_t>(i)].range.store(
            pack(static_cast<std::uint64_t>(first), static_cast<std::uint64_t>(first + count)),
            std::memory_order_relaxed);
    }
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    run_share(0, region_);
    // Spin briefly, then sleep: on an oversubscribed machine a spinning waiter would hold the
    // core the last worker needs.
    for (int spin = 0; spin < kSpinIterations && pending_.load(std::memory_order_acquire) != 0;
         ++spin) {
        cpu_relax();
    }
    for (int p = pending_.load(std::memory_order_acquire); p != 0;
         p = pending_.load(std::memory_order_acquire)) {
        pending_.wait(p, std::memory_order_acquire);
    }
}

}  // namespace ravel::detail
