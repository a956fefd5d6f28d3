// Short CPU-bound jobs split into independent items, run by a few threads started for the job:
// the load-time conversions (format/gguf_kquant.cpp, model/matrix.cpp), which run before any
// session (and its thread pool) exists.
#pragma once

#include <cstddef>
#include <functional>

#include "ravel/result.hpp"

namespace ravel::format {

// Threads for_each_item is worth running for `items` items: one per hardware thread, at most 16
// and at most one per item, at least 1.
std::size_t item_workers(std::size_t items);

// Calls work(worker, item) once for every item in [0, items), items handed out in order to
// `workers` threads (this one included, as worker 0; fewer when no more can be started). A
// worker number is only ever used by one thread at a time, so per-worker buffers need no lock.
// After the first error no new item starts, and that error is returned; a std::bad_alloc thrown
// by `work` becomes one.
Result<void> for_each_item(std::size_t items, std::size_t workers,
                           const std::function<Result<void>(std::size_t, std::size_t)>& work);

}  // namespace ravel::format
