// Measurements of this machine that put benchmark numbers in context: the memory read rate
// and the fp32 FMA rate reachable with the same instruction set and thread count the engine
// uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ravel/result.hpp"

namespace ravel {

class Session;

struct MachineProbe {
    double read_bandwidth_gb_s = 0;  // reading a working set of the given size
    double fma_gflop_s = 0;          // 2 flops per FMA lane
    std::string isa;                 // the kernel set in use: avx512, avx2, generic
    int threads = 1;
};

// Runs for about a second. `working_set_bytes` should match what is being compared (e.g. the
// weight bytes read per token); it is capped at half the memory the kernel reports available.
MachineProbe probe_machine(std::size_t working_set_bytes, int threads);

// One read pass at a time over a buffer of a given size, with the probe's read kernel, on a
// session's own CPU threads: a benchmark alternates passes with the work it measures, so each
// piece of work is put against the bandwidth the machine gave in the same moment. On a machine
// whose memory other tenants share, one probe's passes spread by 2x and probes seconds apart
// differ as much (a 2-vCPU cloud guest: 22-65 GB/s), while back-to-back passes see the same
// neighbours. On the session's threads, a pass followed at once by a token is what a reply's
// token sees after the previous token's weights: workers awake, no other pool beside them.
class ReadPasses {
  public:
    // An error where the buffer cannot be had.
    static Result<ReadPasses> create(std::size_t bytes);
    ReadPasses(ReadPasses&&) noexcept;
    ReadPasses& operator=(ReadPasses&&) noexcept;
    ~ReadPasses();

    // Reads the whole buffer once on `session`'s CPU threads; returns the seconds it took.
    double pass(Session& session);
    std::size_t bytes() const;

  private:
    struct Impl;
    explicit ReadPasses(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The threads the engine uses when none are asked for: one per physical core this process may
// run on. Decoding is bound by memory bandwidth, which a core's second hardware thread does not
// add to, while every extra thread lengthens each of the ~100 hand-offs a token takes; and the
// affinity mask, unlike std::thread::hardware_concurrency(), follows a container's cpuset.
// Falls back to the CPUs it may run on where the topology can't be read.
int default_thread_count();

// The size of the largest (last-level) cache of the first CPU this process may run on, as the
// kernel reports it; none where it can't be read. Weights that fit in it are read at the
// cache's rate, not memory's (the benchmark says so).
std::optional<std::uint64_t> last_level_cache_bytes();

// The CPU kernel set this process uses: "avx512", "avx2" or "generic".
std::string cpu_kernel_isa();

}  // namespace ravel
