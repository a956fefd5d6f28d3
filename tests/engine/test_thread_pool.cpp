// The CPU thread pool: every index of a parallel region is covered exactly once, by ranges of
// the requested grain (whole grains except at the end), in both the static split and the
// dynamic one (own share in order, then stealing from the back of the others'), and a region
// never waits for a worker that has not got a core to run on.
#include <QtTest>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#endif

#include "model/cpu/thread_pool.hpp"

using ravel::detail::ThreadPool;

class ThreadPoolTest : public QObject {
    Q_OBJECT

    static void check_cover(ThreadPool& pool, std::int64_t n, std::int64_t grain, bool dynamic) {
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
        std::atomic<bool> bad_range{false};
        std::atomic<int> bad_thread{0};
        auto fn = [&](int thread, std::int64_t b, std::int64_t e) {
            if (thread < 0 || thread >= pool.size()) bad_thread.store(1);
            if (b % grain != 0 || b >= e || e > n || ((e - b) % grain != 0 && e != n)) {
                bad_range.store(true);
            }
            for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
        };
        if (dynamic) {
            pool.parallel_for_dynamic(n, grain, fn);
        } else {
            pool.parallel_for(n, grain, fn);
        }
        QVERIFY2(!bad_range.load(), "a range was misaligned, empty or too long");
        QCOMPARE(bad_thread.load(), 0);
        for (std::int64_t i = 0; i < n; ++i) {
            if (hits[static_cast<std::size_t>(i)].load() != 1) {
                QFAIL(qPrintable(QStringLiteral("index %1 covered %2 times")
                                     .arg(i)
                                     .arg(hits[static_cast<std::size_t>(i)].load())));
            }
        }
    }

  private slots:
    void every_index_once() {
        for (int threads : {1, 2, 3, 5}) {
            ThreadPool pool(threads);
            for (std::int64_t n : {1, 7, 48, 100, 1001}) {
                for (std::int64_t grain : {1, 3, 48}) {
                    check_cover(pool, n, grain, false);
                    check_cover(pool, n, grain, true);
                }
            }
        }
    }

    // A share counts grains in 20 bits; longer ranges run as several regions, still every
    // index once in whole grains.
    void more_grains_than_a_share_counts() {
        ThreadPool pool(3);
        const std::int64_t n = (std::int64_t{1} << 20) * 2 + 7;
        check_cover(pool, n, 1, true);
        check_cover(pool, n, 1, false);
        check_cover(pool, n * 3, 3, true);
    }

    // Small regions leave some threads without a share; when such a thread next takes part,
    // what its share last held must not pass for its new share.
    void shares_of_threads_left_out() {
        ThreadPool pool(4);
        for (int round = 0; round < 3000; ++round) {
            const std::int64_t n = 1 + round % 6;
            check_cover(pool, n, 1, round % 3 != 0);
        }
    }

    // current_region(): 0 outside regions; inside, one number shared by every thread of the
    // region, new for every region of any pool.
    void region_numbers() {
        QCOMPARE(ThreadPool::current_region(), std::uint64_t{0});
        ThreadPool a(3), b(2);
        std::vector<std::uint64_t> seen;
        for (ThreadPool* pool : {&a, &b, &a}) {
            std::mutex m;
            std::vector<std::uint64_t> numbers;
            pool->parallel_for_dynamic(64, 1, [&](int, std::int64_t, std::int64_t) {
                std::this_thread::sleep_for(std::chrono::microseconds(50));
                std::lock_guard lock(m);
                numbers.push_back(ThreadPool::current_region());
            });
            QVERIFY(!numbers.empty());
            QVERIFY(numbers[0] != 0);
            for (std::uint64_t n : numbers) QCOMPARE(n, numbers[0]);
            QVERIFY(std::find(seen.begin(), seen.end(), numbers[0]) == seen.end());
            seen.push_back(numbers[0]);
            QCOMPARE(ThreadPool::current_region(), std::uint64_t{0});
        }
    }

    void dynamic_regions_repeat() {
        // Many regions back to back reuse the same workers and block counter.
        ThreadPool pool(3);
        std::atomic<std::int64_t> total{0};
        for (int round = 0; round < 500; ++round) {
            pool.parallel_for_dynamic(
                97, 4, [&](int, std::int64_t b, std::int64_t e) { total.fetch_add(e - b); });
        }
        QCOMPARE(total.load(), std::int64_t{500 * 97});
    }

    void own_share_in_order_then_steal_from_the_back() {
        // Two threads, 96 grains of 12; thread 1 is slow (as if it had lost its core): thread 0
        // walks its own half front to back, then takes grains from the back of thread 1's.
        ThreadPool pool(2);
        std::mutex m;
        std::vector<std::int64_t> fast, slow;
        std::atomic<bool> whole_grains{true};
        pool.parallel_for_dynamic(96 * 12, 12, [&](int thread, std::int64_t b, std::int64_t e) {
            if (e - b != 12) whole_grains.store(false);
            if (thread == 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
            std::lock_guard lock(m);
            (thread == 0 ? fast : slow).push_back(b / 12);
        });
        QVERIFY(whole_grains.load());
        QVERIFY(fast.size() > 48);
        QCOMPARE(fast.size() + slow.size(), std::size_t{96});
        for (std::size_t i = 0; i < 48; ++i) QCOMPARE(fast[i], std::int64_t(i));
        for (std::size_t i = 48; i < fast.size(); ++i) {
            QCOMPARE(fast[i], std::int64_t(95 - (i - 48)));  // stolen, last grain first
        }
        for (std::size_t i = 0; i < slow.size(); ++i) QCOMPARE(slow[i], std::int64_t(48 + i));
    }

    // When the threads outnumber the free cores (another program busy, or a thread setting
    // above the core count), a worker may not run for milliseconds. A dynamic region must not
    // wait for it: the threads that run take its grains. With every thread of the pool on one
    // CPU, the calling thread does each small region alone and goes on. When every region
    // waited for every worker to check in, each one switched the calling thread out until the
    // workers had run (300 switches in 300 regions; v7 0.1B q4_0 on 2 threads beside one busy
    // process: 15.2 ms per token against 4.9 on one thread).
    void regions_do_not_wait_for_workers_without_a_core() {
#if defined(__linux__)
        cpu_set_t saved;
        CPU_ZERO(&saved);
        if (sched_getaffinity(0, sizeof saved, &saved) != 0) QSKIP("the CPU affinity is unknown");
        int cpu = 0;
        while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved)) ++cpu;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) QSKIP("the CPU affinity can't be set");
        long switches = 0;
        bool covered = true;
        {
            ThreadPool pool(3);  // its workers inherit the one CPU
            rusage before{}, after{};
            getrusage(RUSAGE_THREAD, &before);
            for (int round = 0; round < 300; ++round) {
                std::vector<int> hits(64, 0);
                pool.parallel_for_dynamic(64, 4, [&](int, std::int64_t b, std::int64_t e) {
                    for (std::int64_t i = b; i < e; ++i) ++hits[static_cast<std::size_t>(i)];
                });
                covered =
                    covered && std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; });
            }
            getrusage(RUSAGE_THREAD, &after);
            // Switched out, asleep or preempted: either way the workers ran meanwhile.
            switches = (after.ru_nvcsw - before.ru_nvcsw) + (after.ru_nivcsw - before.ru_nivcsw);
        }
        sched_setaffinity(0, sizeof saved, &saved);
        QVERIFY(covered);
        QVERIFY2(switches < 60, qPrintable(QStringLiteral("the calling thread was switched out %1 "
                                                          "times in 300 regions")
                                               .arg(switches)));
#else
        QSKIP("needs Linux CPU affinity");
#endif
    }
};

QTEST_APPLESS_MAIN(ThreadPoolTest)
#include "test_thread_pool.moc"
