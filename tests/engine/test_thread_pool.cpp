// The CPU thread pool: every index of a parallel region is covered exactly once, by ranges of
// the requested grain (whole grains except at the end), in both the static split and the
// dynamic one (own share in order, then stealing from the back of the others').
#include <QtTest>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

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
};

QTEST_APPLESS_MAIN(ThreadPoolTest)
#include "test_thread_pool.moc"
