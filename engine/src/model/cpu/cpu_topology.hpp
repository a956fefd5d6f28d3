// Which CPUs this process may run on and how many physical cores they are, for the default
// thread count (ravel/machine.hpp: default_thread_count).
#pragma once

#include <filesystem>
#include <vector>

namespace ravel::detail {

// The CPUs this process may run on (its affinity mask, which a container's cpuset narrows),
// in increasing order; empty when the mask can't be read.
std::vector<int> allowed_cpus();

// The physical cores among `cpus` by the topology files under `cpu_dir` (laid out as
// /sys/devices/system/cpu): distinct (physical_package_id, core_id) pairs. 0 when a CPU's
// files are missing or hold no number, so the caller falls back to counting CPUs.
int physical_cores(const std::filesystem::path& cpu_dir, const std::vector<int>& cpus);

}  // namespace ravel::detail
