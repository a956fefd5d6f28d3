#include "model/cpu/cpu_topology.hpp"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "ravel/machine.hpp"

namespace ravel {

namespace detail {

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
    return cpus;
}

namespace {
// The first line of `file` as a non-negative number below 2^20, or -1.
long read_id(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::string line;
    if (!in || !std::getline(in, line) || line.empty() || line.size() > 7) return -1;
    long value = 0;
    for (char ch : line) {
        if (ch < '0' || ch > '9') return -1;
        value = value * 10 + (ch - '0');
    }
    return value;
}
}  // namespace

int physical_cores(const std::filesystem::path& cpu_dir, const std::vector<int>& cpus) {
    std::set<std::pair<long, long>> cores;
    for (int c : cpus) {
        const auto topology = cpu_dir / ("cpu" + std::to_string(c)) / "topology";
        const long package = read_id(topology / "physical_package_id");
        const long core = read_id(topology / "core_id");
        if (package < 0 || core < 0) return 0;
        cores.insert({package, core});
    }
    return static_cast<int>(cores.size());
}

namespace {
// "32K", "1M" or a plain byte count, as the kernel writes a cache's size; none otherwise.
std::optional<std::uint64_t> parse_cache_size(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    std::uint64_t value = 0;
    std::size_t i = 0;
    // At most 9 digits, so that even a "G" suffix cannot overflow.
    for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && i < 9; ++i)
        value = value * 10 + static_cast<std::uint64_t>(line[i] - '0');
    if (i == 0) return std::nullopt;
    const std::string_view unit = std::string_view(line).substr(i);
    if (unit.empty()) return value;
    if (unit == "K") return value << 10;
    if (unit == "M") return value << 20;
    if (unit == "G") return value << 30;
    return std::nullopt;
}
}  // namespace

std::optional<std::uint64_t> last_level_cache_bytes(const std::filesystem::path& cpu_dir, int cpu) {
    const auto cache_dir = cpu_dir / ("cpu" + std::to_string(cpu)) / "cache";
    std::error_code ec;
    long best_level = -1;
    std::optional<std::uint64_t> best;
    // Iterated with error codes: a directory that vanishes or can't be read ends the scan.
    for (std::filesystem::directory_iterator it(cache_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
        const std::filesystem::path dir = it->path();
        if (dir.filename().string().rfind("index", 0) != 0) continue;
        const long level = read_id(dir / "level");
        const auto size = parse_cache_size(dir / "size");
        if (level < 0 || !size || level <= best_level) continue;
        best_level = level;
        best = size;
    }
    return best;
}

std::optional<std::uint64_t> memory_available(const std::filesystem::path& meminfo) {
    std::ifstream in(meminfo);
    std::string line;
    constexpr std::string_view kKey = "MemAvailable:";
    while (std::getline(in, line)) {
        if (line.compare(0, kKey.size(), kKey) != 0) continue;
        // "MemAvailable:   23306184 kB"
        std::size_t i = kKey.size();
        while (i < line.size() && line[i] == ' ') ++i;
        std::uint64_t kib = 0;
        std::size_t digits = 0;
        for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 15; ++i, ++digits)
            kib = kib * 10 + static_cast<std::uint64_t>(line[i] - '0');
        if (digits == 0 || line.compare(i, 3, " kB") != 0) return std::nullopt;
        return kib * 1024;
    }
    return std::nullopt;
}

}  // namespace detail

std::optional<std::uint64_t> last_level_cache_bytes() {
    const std::vector<int> cpus = detail::allowed_cpus();
    return detail::last_level_cache_bytes("/sys/devices/system/cpu", cpus.empty() ? 0 : cpus[0]);
}

int default_thread_count() {
    // Read once: every session (and every copy of one, a chat's checkpoint per message) asks.
    static const int count = [] {
        const std::vector<int> cpus = detail::allowed_cpus();
        if (cpus.empty())
            return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        const int cores = detail::physical_cores("/sys/devices/system/cpu", cpus);
        return cores > 0 ? cores : static_cast<int>(cpus.size());
    }();
    return count;
}

}  // namespace ravel
