// Which CPUs this process may run on and how many physical cores they are, for the default
// thread count (ravel/machine.hpp: default_thread_count); and how much memory the kernel says
// could still be had, for buffers sized like the weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace ravel::detail {

// The CPUs this process may run on (its affinity mask, which a container's cpuset narrows),
// in increasing order; empty when the mask can't be read.
std::vector<int> allowed_cpus();

// The physical cores among `cpus` by the topology files under `cpu_dir` (laid out as
// /sys/devices/system/cpu): distinct (physical_package_id, core_id) pairs. 0 when a CPU's
// files are missing or hold no number, so the caller falls back to counting CPUs.
int physical_cores(const std::filesystem::path& cpu_dir, const std::vector<int>& cpus);

// The size of the highest-level cache `cpu` reports under `cpu_dir` (laid out as
// /sys/devices/system/cpu: cpuN/cache/indexK/{level,size}, sizes such as "491520K"); none when
// no cache entry can be read.
std::optional<std::uint64_t> last_level_cache_bytes(const std::filesystem::path& cpu_dir, int cpu);

// MemAvailable from a file laid out as /proc/meminfo, in bytes; none when the file or the line
// can't be read (other systems, old kernels).
std::optional<std::uint64_t> memory_available(const std::filesystem::path& meminfo);

}  // namespace ravel::detail
