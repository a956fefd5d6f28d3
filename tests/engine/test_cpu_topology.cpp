// The default thread count's view of the machine: physical cores counted from sysfs-style
// topology files (a fake tree here), the affinity mask, and the fallbacks when either is
// unreadable; and the memory available to buffers sized like the weights.
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "model/cpu/cpu_topology.hpp"
#include "ravel/machine.hpp"
#include "ravel/model.hpp"
#include "ravel/session.hpp"

namespace {

namespace fs = std::filesystem;

// Writes cpuN/topology/{physical_package_id,core_id} under `root`.
void add_cpu(const fs::path& root, int cpu, const std::string& package, const std::string& core) {
    const fs::path dir = root / ("cpu" + std::to_string(cpu)) / "topology";
    fs::create_directories(dir);
    std::ofstream(dir / "physical_package_id") << package << "\n";
    std::ofstream(dir / "core_id") << core << "\n";
}

// Writes cpuN/cache/indexK/{level,size} under `root`.
void add_cache(const fs::path& root, int cpu, int index, const std::string& level,
               const std::string& size) {
    const fs::path dir =
        root / ("cpu" + std::to_string(cpu)) / "cache" / ("index" + std::to_string(index));
    fs::create_directories(dir);
    std::ofstream(dir / "level") << level << "\n";
    std::ofstream(dir / "size") << size << "\n";
}

}  // namespace

class TestCpuTopology : public QObject {
    Q_OBJECT

  private slots:
    void hardwareThreadsOfOneCoreCountOnce() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        // Two cores with two hardware threads each, numbered as Linux does (siblings apart).
        add_cpu(root, 0, "0", "0");
        add_cpu(root, 1, "0", "1");
        add_cpu(root, 2, "0", "0");
        add_cpu(root, 3, "0", "1");
        QCOMPARE(ravel::detail::physical_cores(root, {0, 1, 2, 3}), 2);
        // Only what the process may run on counts.
        QCOMPARE(ravel::detail::physical_cores(root, {0, 2}), 1);
        QCOMPARE(ravel::detail::physical_cores(root, {1, 2}), 2);
    }

    void coresOfDifferentPackagesAreDistinct() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        add_cpu(root, 0, "0", "0");
        add_cpu(root, 1, "1", "0");  // the same core id on the second socket
        QCOMPARE(ravel::detail::physical_cores(root, {0, 1}), 2);
    }

    void unreadableTopologyGivesZero() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        add_cpu(root, 0, "0", "0");
        add_cpu(root, 1, "0", "x1");  // not a number
        add_cpu(root, 2, "0", "-1");  // nor this
        add_cpu(root, 3, "0", "");    // empty
        QCOMPARE(ravel::detail::physical_cores(root, {0, 1}), 0);
        QCOMPARE(ravel::detail::physical_cores(root, {0, 2}), 0);
        QCOMPARE(ravel::detail::physical_cores(root, {0, 3}), 0);
        QCOMPARE(ravel::detail::physical_cores(root, {0, 9}), 0);  // no such CPU
        QCOMPARE(ravel::detail::physical_cores(root, {0}), 1);
    }

    void memoryAvailableIsReadFromMeminfo() {
        QTemporaryDir tmp;
        const fs::path file = fs::path(tmp.path().toStdString()) / "meminfo";
        std::ofstream(file) << "MemTotal:       24563172 kB\nMemFree:        23306184 kB\n"
                               "MemAvailable:   23400000 kB\nBuffers:            1128 kB\n";
        QCOMPARE(ravel::detail::memory_available(file),
                 std::optional<std::uint64_t>(23400000ull * 1024));
        // No such line, a line without a number or unit, no file: nothing.
        std::ofstream(file) << "MemTotal:       24563172 kB\n";
        QVERIFY(!ravel::detail::memory_available(file));
        std::ofstream(file) << "MemAvailable:   kB\n";
        QVERIFY(!ravel::detail::memory_available(file));
        std::ofstream(file) << "MemAvailable:   123 MB\n";
        QVERIFY(!ravel::detail::memory_available(file));
        QVERIFY(!ravel::detail::memory_available(fs::path(tmp.path().toStdString()) / "none"));
        // This machine's.
        QVERIFY(ravel::detail::memory_available("/proc/meminfo").value_or(0) > 0);
    }

    void lastLevelCacheIsTheHighestLevel() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        add_cache(root, 0, 0, "1", "48K");
        add_cache(root, 0, 1, "1", "32K");
        add_cache(root, 0, 3, "3", "491520K");
        add_cache(root, 0, 2, "2", "2048K");
        QCOMPARE(ravel::detail::last_level_cache_bytes(root, 0),
                 std::optional<std::uint64_t>(491520ull << 10));
        add_cache(root, 1, 0, "2", "1M");
        QCOMPARE(ravel::detail::last_level_cache_bytes(root, 1),
                 std::optional<std::uint64_t>(1ull << 20));
        // An unreadable size is skipped, not taken as 0; no cache entries at all: nothing.
        add_cache(root, 2, 0, "2", "1024K");
        add_cache(root, 2, 1, "3", "lots");
        QCOMPARE(ravel::detail::last_level_cache_bytes(root, 2),
                 std::optional<std::uint64_t>(1024ull << 10));
        QVERIFY(!ravel::detail::last_level_cache_bytes(root, 7));
        // Too many digits to be a size: skipped, not wrapped around.
        add_cache(root, 3, 0, "3", "99999999999999G");
        QVERIFY(!ravel::detail::last_level_cache_bytes(root, 3));
    }

    void readPassesRefuseMoreThanTheMachineHas() {
        auto huge = ravel::ReadPasses::create(std::size_t{1} << 60);
        QVERIFY(!huge);
        QVERIFY2(huge.message().find("not enough free memory") != std::string::npos,
                 huge.message().c_str());
        auto small = ravel::ReadPasses::create(std::size_t{1} << 20);
        QVERIFY2(small, small ? "" : small.message().c_str());
        QCOMPARE(small->bytes(), std::size_t{1} << 20);
        // On a session's threads, which still decode afterwards.
        auto spec = ravel::parse_synthetic_spec("v7:2x64:256");
        QVERIFY(spec);
        auto model = ravel::Model::synthetic(*spec);
        QVERIFY2(model, model ? "" : model.message().c_str());
        ravel::Session session(*model, ravel::SessionOptions{2});
        QVERIFY(small->pass(session) > 0);
        auto logits = session.step(1);
        QVERIFY(logits);
        QCOMPARE(logits->size(), std::size_t{256});
        QVERIFY(small->pass(session) > 0);
    }

    void defaultCountIsWithinWhatTheProcessMayUse() {
        const auto cpus = ravel::detail::allowed_cpus();
        QVERIFY(!cpus.empty());  // Linux always reports the mask
        const int n = ravel::default_thread_count();
        QVERIFY(n >= 1);
        QVERIFY(n <= static_cast<int>(cpus.size()));
    }
};

QTEST_GUILESS_MAIN(TestCpuTopology)
#include "test_cpu_topology.moc"
