// A persistent pool of worker threads for the CPU backend. Threads are created once per
// session, never per token; parallel regions hand out contiguous index ranges.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace ravel::detail {

class ThreadPool {
  public:
    // `threads` counts the calling thread too; 0 picks default_thread_count() (ravel/machine.hpp).
    explicit ThreadPool(int threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Calls fn(index, begin, end) once per participating thread with disjoint ranges covering
    // [0, n) in multiples of `grain`; returns when all are done. Not reentrant. Each share is
    // its thread's own, so the region waits for every participant to get a core: for work that
    // must run once per thread (the machine probe); everything else takes the dynamic form.
    // (Regions of more than 2^20 grains run as several regions, one after another.)
    template <class Fn>
    void parallel_for(std::int64_t n, std::int64_t grain, const Fn& fn) {
        run(n, grain, &fn, &invoke<Fn>, false);
    }
    // As parallel_for, but robust to a thread losing its core to another process: each thread
    // starts on its static share and walks it one grain at a time from the front; a thread
    // that runs out takes grains from the back of the others' shares. So on a quiet machine
    // every thread works through consecutive indices (its prefetches stay useful), and on a
    // busy one nobody waits for a descheduled thread for more than the grain it is running.
    // fn gets one grain per call (a pool of one, or a single grain, gets the whole range).
    template <class Fn>
    void parallel_for_dynamic(std::int64_t n, std::int64_t grain, const Fn& fn) {
        run(n, grain, &fn, &invoke<Fn>, true);
    }

    // A number unique in the process to the parallel region the calling thread is running a
    // share of (any pool's), 0 outside regions. Inputs a region's jobs only read stay the same
    // for its whole length, so a thread may keep what it derives from them (the decode kernels'
    // quantized activations) for its next grains, keyed by this number.
    static std::uint64_t current_region();

  private:
    // The job by address and a caller for its type: a region costs no allocation and no
    // std::function copy, and a worker reaches the job in one indirection.
    using Invoke = void (*)(const void*, int, std::int64_t, std::int64_t);
    template <class Fn>
    static void invoke(const void* fn, int index, std::int64_t begin, std::int64_t end) {
        (*static_cast<const Fn*>(fn))(index, begin, end);
    }

    void run(std::int64_t n, std::int64_t grain, const void* job, Invoke call, bool dynamic);
    void run_region(std::int64_t n, std::int64_t grain, const void* job, Invoke call, bool dynamic);
    void worker_loop(int index);
    // Participant `index`'s grains [first, last) of the posted region, contiguous and as even
    // as can be: all of a static region's work, where a dynamic one starts.
    std::pair<std::int64_t, std::int64_t> initial_share(int index) const;
    void run_share(int index, std::uint64_t generation);
    void run_dynamic(int index, std::uint64_t generation);
    // Waits until worker `index` has left region `generation`: until it has run its share if
    // `must_run`, else only if it is inside (one that is not will see the region closed).
    void wait_for_worker(int index, std::uint64_t generation, bool must_run);

    // What a worker needs to start a region, in the one cache line it polls: on a 2-vCPU EPYC
    // guest a line moved between the cores in about 250 ns (a ping-pong round trip of 490),
    // and a region whose description spread over several lines, some written just before the
    // post, started its worker that many transfers late.
    struct alignas(64) Post {
        // generation << 1 | closed. The caller closes a region once no work is left to take.
        std::atomic<std::uint64_t> word{0};
        const void* job = nullptr;
        Invoke call = nullptr;
        std::int64_t n = 0;
        std::int64_t grain = 1;
        std::int64_t blocks = 0;
        std::uint64_t region = 0;  // this region's number (see current_region)
        int participants = 1;
        bool dynamic = false;
    };
    // One per thread, each on its own cache line: with fine grains, claims would otherwise
    // bounce a shared line.
    struct alignas(64) Slot {
        // The worker's progress: generation << 1 | done. A worker writes "inside" before it
        // reads whether the region is closed, and the caller closes before it reads this, so
        // either the worker sees the region closed and leaves it alone, or the caller sees the
        // worker inside and waits for it (a worker that has no core by then holds up nothing).
        std::atomic<std::uint64_t> state{0};
        // This thread's share of a dynamic region's grains: tag << 40 | front << 20 | back,
        // consumed from both ends. The tag is the low 24 bits of the generation; a share with
        // another tag is stale and stands for the thread's initial share, so no thread writes
        // another's line to start a region. Every region writes every share (see run_region),
        // so a stale tag is always the previous generation's and never matches by wrapping.
        std::atomic<std::uint64_t> share{0};
    };

    Post post_;
    std::unique_ptr<Slot[]> slots_;
    std::vector<std::thread> workers_;
    std::atomic<bool> stop_{false};
};

}  // namespace ravel::detail
