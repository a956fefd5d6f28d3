// A persistent pool of worker threads for the CPU backend. Threads are created once per
// session, never per token; parallel regions hand out contiguous index ranges.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
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
    void parallel_for(std::int64_t n, std::int64_t grain,
                      const std::function<void(int, std::int64_t, std::int64_t)>& fn);
    // As parallel_for, but robust to a thread losing its core to another process: each thread
    // starts on its static share and walks it one grain at a time from the front; a thread
    // that runs out takes grains from the back of the others' shares. So on a quiet machine
    // every thread works through consecutive indices (its prefetches stay useful), and on a
    // busy one nobody waits for a descheduled thread for more than the grain it is running.
    // fn gets one grain per call (a pool of one, or a single grain, gets the whole range).
    void parallel_for_dynamic(std::int64_t n, std::int64_t grain,
                              const std::function<void(int, std::int64_t, std::int64_t)>& fn);

    // A number unique in the process to the parallel region the calling thread is running a
    // share of (any pool's), 0 outside regions. Inputs a region's jobs only read stay the same
    // for its whole length, so a thread may keep what it derives from them (the decode kernels'
    // quantized activations) for its next grains, keyed by this number.
    static std::uint64_t current_region();

  private:
    void worker_loop(int index);
    void run_share(int index, std::uint64_t region);
    void run_dynamic(int index);
    void run(std::int64_t n, std::int64_t grain,
             const std::function<void(int, std::int64_t, std::int64_t)>& fn, bool dynamic);

    // Whether a worker may still join the region it saw posted; if so it is counted in.
    bool enter(std::uint64_t generation);
    void leave();

    std::vector<std::thread> workers_;
    const std::function<void(int, std::int64_t, std::int64_t)>* job_ = nullptr;
    std::int64_t n_ = 0;
    std::int64_t grain_ = 1;
    int participants_ = 1;
    bool dynamic_ = false;
    // Per participant: its share of the grains as (front << 32 | back); dynamic regions
    // consume it from both ends.
    // One cache line each: with fine grains, claims would otherwise bounce a shared line.
    struct alignas(64) Share {
        std::atomic<std::uint64_t> range{0};
    };
    std::unique_ptr<Share[]> shares_;
    std::uint64_t region_ = 0;  // this region's number (see current_region)
    std::atomic<std::uint64_t> generation_{0};
    // The gate of the current region: (generation << 32 | closed << 31 | workers inside). A
    // worker reads the region's description only once counted in, and the caller closes the
    // gate when no work is left to take, then waits only for the workers inside: a worker that
    // has not woken by then (its core taken by another process) no longer holds up the region.
    std::atomic<std::uint64_t> gate_{0};
    // Static regions: participants still running their share (each share has one owner).
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace ravel::detail
