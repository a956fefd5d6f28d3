// A persistent pool of worker threads for the CPU backend. Threads are created once per
// session, never per token; parallel regions hand out contiguous index ranges.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace ravel::detail {

class ThreadPool {
  public:
    // `threads` counts the calling thread too; 0 picks the number of hardware threads.
    explicit ThreadPool(int threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Calls fn(index, begin, end) once per participating thread with disjoint ranges covering
    // [0, n) in multiples of `grain`; returns when all are done. Not reentrant.
    void parallel_for(std::int64_t n, std::int64_t grain,
                      const std::function<void(int, std::int64_t, std::int64_t)>& fn);
    // As parallel_for, but threads claim ranges on demand until none are left (fn may be
    // called several times per thread), so a thread that lost its core to another process
    // does not hold the others back. Claims are guided: whole multiples of `grain` that
    // shrink from about n / (2 * threads) (at most 4 grains) to one grain, so threads also
    // finish together. A
    // pool of one thread (or a single grain) runs the whole range in one call.
    void parallel_for_dynamic(std::int64_t n, std::int64_t grain,
                              const std::function<void(int, std::int64_t, std::int64_t)>& fn);

  private:
    void worker_loop(int index);
    void run_share(int index);
    void run(std::int64_t n, std::int64_t grain,
             const std::function<void(int, std::int64_t, std::int64_t)>& fn, bool dynamic);

    std::vector<std::thread> workers_;
    const std::function<void(int, std::int64_t, std::int64_t)>* job_ = nullptr;
    std::int64_t n_ = 0;
    std::int64_t grain_ = 1;
    int participants_ = 1;
    bool dynamic_ = false;
    std::atomic<std::int64_t> next_index_{0};
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace ravel::detail
