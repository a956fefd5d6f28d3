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

// Share fields: 20 bits per end, 24 bits of tag.
constexpr int kEndBits = 20;
constexpr std::uint64_t kEndMask = (std::uint64_t{1} << kEndBits) - 1;
constexpr std::int64_t kMaxBlocks = static_cast<std::int64_t>(kEndMask);
constexpr std::uint64_t kTagMask = (std::uint64_t{1} << 24) - 1;

constexpr std::uint64_t share_tag(std::uint64_t generation) {
    return generation & kTagMask;
}
constexpr std::uint64_t pack(std::uint64_t tag, std::uint64_t front, std::uint64_t back) {
    return tag << (2 * kEndBits) | front << kEndBits | back;
}
constexpr std::uint64_t front_of(std::uint64_t share) {
    return share >> kEndBits & kEndMask;
}
constexpr std::uint64_t back_of(std::uint64_t share) {
    return share & kEndMask;
}

constexpr std::uint64_t kClosed = 1;
constexpr std::uint64_t kDone = 1;

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
    slots_ = std::make_unique<Slot[]>(static_cast<std::size_t>(threads));
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    post_.word.fetch_add(2);
    post_.word.notify_all();
    for (auto& t : workers_) t.join();
}

std::uint64_t ThreadPool::current_region() {
    return tls_region;
}

std::pair<std::int64_t, std::int64_t> ThreadPool::initial_share(int index) const {
    const Post& p = post_;
    const std::int64_t per = p.blocks / p.participants, extra = p.blocks % p.participants;
    const std::int64_t first = index * per + std::min<std::int64_t>(index, extra);
    return {first, first + per + (index < extra ? 1 : 0)};
}

void ThreadPool::run_share(int index, std::uint64_t generation) {
    struct Scope {
        explicit Scope(std::uint64_t r) { tls_region = r; }
        ~Scope() { tls_region = 0; }
    } scope(post_.region);
    if (post_.dynamic) {
        run_dynamic(index, generation);
        return;
    }
    const Post& p = post_;
    const auto [first, last] = initial_share(index);
    const std::int64_t begin = std::min(p.n, first * p.grain);
    const std::int64_t end = std::min(p.n, last * p.grain);
    if (begin < end) p.call(p.job, index, begin, end);
}

void ThreadPool::run_dynamic(int index, std::uint64_t generation) {
    const Post& p = post_;
    const std::uint64_t tag = share_tag(generation);
    // A share as of this region: a stale one stands for its thread's initial share.
    auto current = [&](std::uint64_t share, int owner) {
        if (share >> (2 * kEndBits) == tag) return share;
        const auto [first, last] = initial_share(owner);
        return pack(tag, static_cast<std::uint64_t>(first), static_cast<std::uint64_t>(last));
    };
    auto run_grain = [&](std::uint64_t g) {
        const auto b = static_cast<std::int64_t>(g) * p.grain;
        p.call(p.job, index, b, std::min(p.n, b + p.grain));
    };
    // Own share, from the front.
    std::atomic<std::uint64_t>& own = slots_[static_cast<std::size_t>(index)].share;
    for (std::uint64_t raw = own.load(std::memory_order_acquire);;) {
        const std::uint64_t s = current(raw, index);
        const std::uint64_t front = front_of(s), back = back_of(s);
        if (front >= back) break;
        if (own.compare_exchange_weak(raw, pack(tag, front + 1, back), std::memory_order_acq_rel)) {
            run_grain(front);
            raw = own.load(std::memory_order_acquire);
        }
    }
    // Then the others' shares, from the back.
    for (int v = 1; v < p.participants; ++v) {
        const int owner = (index + v) % p.participants;
        std::atomic<std::uint64_t>& other = slots_[static_cast<std::size_t>(owner)].share;
        for (std::uint64_t raw = other.load(std::memory_order_acquire);;) {
            const std::uint64_t s = current(raw, owner);
            const std::uint64_t front = front_of(s), back = back_of(s);
            if (front >= back) break;
            if (other.compare_exchange_weak(raw, pack(tag, front, back - 1),
                                            std::memory_order_acq_rel)) {
                run_grain(back - 1);
                raw = other.load(std::memory_order_acquire);
            }
        }
    }
}

void ThreadPool::worker_loop(int index) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    std::uint64_t seen = 0;
    for (;;) {
        std::uint64_t word = post_.word.load(std::memory_order_acquire);
        if (word >> 1 == seen) {
            const auto spin_end = std::chrono::steady_clock::now() + kWorkerIdleSpin;
            for (int spin = 1; word >> 1 == seen; ++spin) {
                cpu_relax();
                word = post_.word.load(std::memory_order_acquire);
                if (spin % 64 == 0 && std::chrono::steady_clock::now() >= spin_end) break;
            }
        }
        while (word >> 1 == seen) {
            post_.word.wait(word, std::memory_order_acquire);
            word = post_.word.load(std::memory_order_acquire);
        }
        seen = word >> 1;
        if (stop_.load()) return;
        // Inside first, then the check (see Slot::state). A region closed or replaced before
        // this worker got to it needs nothing from it, and its description may already be the
        // next region's.
        slot.state.store(seen << 1, std::memory_order_seq_cst);
        if (post_.word.load(std::memory_order_seq_cst) == seen << 1 && index < post_.participants) {
            run_share(index, seen);
        }
        slot.state.store(seen << 1 | kDone, std::memory_order_release);
        slot.state.notify_one();
    }
}

void ThreadPool::wait_for_worker(int index, std::uint64_t generation, bool must_run) {
    std::atomic<std::uint64_t>& state = slots_[static_cast<std::size_t>(index)].state;
    // Spin briefly, then sleep: on an oversubscribed machine a spinning waiter would hold the
    // core the last worker needs.
    int spin = 0;
    for (std::uint64_t s = state.load(std::memory_order_seq_cst);;
         s = state.load(std::memory_order_acquire)) {
        if (s == (generation << 1 | kDone)) return;
        if (!must_run && s != generation << 1) return;
        if (spin < kSpinIterations) {
            ++spin;
            cpu_relax();
        } else {
            state.wait(s, std::memory_order_acquire);
        }
    }
}

void ThreadPool::run(std::int64_t n, std::int64_t grain, const void* job, Invoke call,
                     bool dynamic) {
    if (n <= 0) return;
    grain = std::max<std::int64_t>(1, grain);
    const std::int64_t blocks = (n + grain - 1) / grain;
    if (workers_.empty() || blocks == 1) {
        call(job, 0, 0, n);
        return;
    }
    // The shares count grains in 20 bits: a longer range runs as consecutive regions, each
    // index still in exactly one call of whole grains.
    const std::int64_t span = kMaxBlocks * grain;
    if (n <= span) {
        run_region(n, grain, job, call, dynamic);
        return;
    }
    for (std::int64_t offset = 0; offset < n; offset += span) {
        auto part = [job, call, offset](int index, std::int64_t b, std::int64_t e) {
            call(job, index, offset + b, offset + e);
        };
        run_region(std::min(span, n - offset), grain, &part, &invoke<decltype(part)>, dynamic);
    }
}

void ThreadPool::run_region(std::int64_t n, std::int64_t grain, const void* job, Invoke call,
                            bool dynamic) {
    const std::int64_t blocks = (n + grain - 1) / grain;
    Post& p = post_;
    p.job = job;
    p.call = call;
    p.n = n;
    p.grain = grain;
    p.blocks = blocks;
    p.region = next_region.fetch_add(1, std::memory_order_relaxed);
    p.participants = static_cast<int>(std::min<std::int64_t>(blocks, size()));
    p.dynamic = dynamic;
    const std::uint64_t generation = (p.word.load(std::memory_order_relaxed) >> 1) + 1;
    // Shares this region's claims will not write get this region's tag here, so that every
    // share is at most one generation stale (see Slot::share). Only small regions have
    // threads without a share.
    for (int i = dynamic ? p.participants : 0; i < size(); ++i) {
        slots_[static_cast<std::size_t>(i)].share.store(pack(share_tag(generation), 0, 0),
                                                        std::memory_order_relaxed);
    }
    // Release: a worker that sees this generation reads the description above.
    p.word.store(generation << 1, std::memory_order_release);
    p.word.notify_all();
    run_share(0, generation);
    // A static share has one owner, who has to run it. A dynamic region's grains are all
    // taken once the calling thread's run_share returns; then only workers inside count.
    if (!dynamic) {
        for (int i = 1; i < p.participants; ++i) wait_for_worker(i, generation, true);
    }
    p.word.store(generation << 1 | kClosed, std::memory_order_seq_cst);
    for (int i = dynamic ? 1 : p.participants; i < size(); ++i) {
        wait_for_worker(i, generation, false);
    }
}

}  // namespace ravel::detail
