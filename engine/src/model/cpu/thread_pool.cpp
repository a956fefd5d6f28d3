#include "model/cpu/thread_pool.hpp"

#include <algorithm>
#include <chrono>

#include "ravel/machine.hpp"

namespace ravel::detail {

namespace {
// Spinning briefly before sleeping keeps the hand-off between the ~100 parallel regions of a
// token in the microseconds; sleeping afterwards keeps idle sessions off the CPU. The calling
// thread, waiting at a region's end for workers on their last grain, spins this many pauses
// (0.1-0.2 ms).
constexpr int kSpinIterations = 4000;
// An idle worker spins this long before it sleeps: longer than the gap between two tokens of a
// reply (the sampler, 0.05-0.5 ms over a large vocabulary, and the hand-off of the token), so
// a reply's workers never sleep. A worker woken from sleep took 40-80 us to run again on a KVM
// guest; when workers slept after 4000 pauses (0.12 ms on Zen 4), a v7 0.1B q4_0 token after a
// 0.4 ms gap took 3.64 ms against 3.51 with this spin (medians of 6 alternating runs).
constexpr std::chrono::microseconds kWorkerIdleSpin{2000};

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

namespace {
constexpr std::uint64_t kClosed = std::uint64_t{1} << 31;
constexpr std::uint64_t kInsideMask = kClosed - 1;
constexpr std::uint64_t gate_tag(std::uint64_t generation) {
    return (generation & 0xffffffffu) << 32;
}
}  // namespace

bool ThreadPool::enter(std::uint64_t generation) {
    const std::uint64_t tag = gate_tag(generation);
    for (std::uint64_t g = gate_.load(std::memory_order_acquire);;) {
        if ((g & ~(kClosed | kInsideMask)) != tag || (g & kClosed) != 0) return false;
        if (gate_.compare_exchange_weak(g, g + 1, std::memory_order_acq_rel)) return true;
    }
}

void ThreadPool::leave() {
    if ((gate_.fetch_sub(1, std::memory_order_acq_rel) & kInsideMask) == 1) gate_.notify_all();
}

void ThreadPool::worker_loop(int index) {
    std::uint64_t seen = 0;
    for (;;) {
        std::uint64_t g = generation_.load(std::memory_order_acquire);
        if (g == seen) {
            const auto spin_end = std::chrono::steady_clock::now() + kWorkerIdleSpin;
            for (int spin = 1; g == seen; ++spin) {
                cpu_relax();
                g = generation_.load(std::memory_order_acquire);
                if (spin % 64 == 0 && std::chrono::steady_clock::now() >= spin_end) break;
            }
        }
        while (g == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            g = generation_.load(std::memory_order_acquire);
        }
        seen = g;
        if (stop_.load()) return;
        // A region closed before this worker got to it needs nothing from it, and its
        // description may already be the next region's.
        if (!enter(g)) continue;
        if (index < participants_) {
            run_share(index, region_);
            if (!dynamic_ && pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                pending_.notify_one();
            }
        }
        leave();
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
    if (!dynamic) pending_.store(participants_ - 1, std::memory_order_relaxed);
    const std::uint64_t generation = generation_.load(std::memory_order_relaxed) + 1;
    // Release: a worker counted in by the gate reads this region's description.
    gate_.store(gate_tag(generation), std::memory_order_release);
    generation_.store(generation, std::memory_order_release);
    generation_.notify_all();
    run_share(0, region_);
    // Spin briefly, then sleep: on an oversubscribed machine a spinning waiter would hold the
    // core the last worker needs.
    int spin = 0;
    auto wait_until = [&spin](auto& atomic, auto done) {
        for (auto v = atomic.load(std::memory_order_acquire); !done(v);
             v = atomic.load(std::memory_order_acquire)) {
            if (spin < kSpinIterations) {
                ++spin;
                cpu_relax();
            } else {
                atomic.wait(v, std::memory_order_acquire);
            }
        }
    };
    // A static share has one owner, who has to run it. A dynamic region's grains are all
    // taken once the calling thread's run_dynamic returns.
    if (!dynamic) wait_until(pending_, [](int p) { return p == 0; });
    const std::uint64_t closed = gate_.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
    if ((closed & kInsideMask) != 0) {
        wait_until(gate_, [](std::uint64_t g) { return (g & kInsideMask) == 0; });
    }
}

}  // namespace ravel::detail
