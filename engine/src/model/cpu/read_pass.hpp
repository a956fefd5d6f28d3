// One pass of the bandwidth probe's read kernel over a buffer, on a given pool: the probe,
// ReadPasses (ravel/machine.hpp) and bench_cpu_kernels --paired-read time the same loads.
#pragma once

#include <cstddef>
#include <vector>

namespace ravel::detail {

class ThreadPool;

// How a pass shares the buffer: each thread its own part (the probe: every thread's reads
// count), or claimed on demand as the decode kernels claim their grains (a pass put against
// their work then waits no more than they do for a thread that lost its core).
enum class PassSplit { PerThread, OnDemand };

// Reads data[0, n) once on `pool`, each line prefetched `prefetch_ahead` bytes ahead (0: none);
// returns the seconds it took. `sums` (one per pool thread) keeps the loads from being dropped.
double read_pass(const float* data, std::size_t n, std::size_t prefetch_ahead, ThreadPool& pool,
                 std::vector<float>& sums, PassSplit split = PassSplit::PerThread);

}  // namespace ravel::detail
