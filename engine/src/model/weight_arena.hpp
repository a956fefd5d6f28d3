// Storage for a model's weight matrices, backed by transparent huge pages where the system
// offers them.
//
// Decoding streams every weight once per token. With 4 KiB pages that is a TLB miss and a
// page walk every 4 KiB, and the hardware prefetchers stop at every page boundary: a q4_0
// 262144x1024 product from DRAM on 2 threads read 19-25 GB/s from 4 KiB pages and 28 GB/s from
// 2 MiB pages. Matrices are a few hundred KiB each, too small to fill a huge page of their own,
// so the arena carves them out of large 2 MiB-aligned chunks marked MADV_HUGEPAGE (Debian's
// default THP mode, "madvise", gives huge pages only to regions that ask).
#pragma once

#include <cstddef>
#include <memory>

#include "ravel/result.hpp"

namespace ravel::detail {

// Bytes handed out by an arena; `keep_alive` owns them (and shares their chunk).
struct ArenaBlock {
    std::byte* data = nullptr;
    std::shared_ptr<const void> keep_alive;
};

// Allocates `bytes` (64-byte aligned) in memory of its own, 2 MiB aligned and marked for huge
// pages. Untouched pages stay unallocated, as with any anonymous mapping.
Result<ArenaBlock> allocate_huge(std::size_t bytes);

// Hands out blocks for one model load, from one thread. Under ASan, the bytes between and
// after blocks are poisoned.
class WeightArena {
  public:
    // Chunks of this size hold the small matrices; larger requests get an allocation each.
    static constexpr std::size_t kChunkBytes = std::size_t{32} << 20;

    Result<ArenaBlock> allocate(std::size_t bytes);

  private:
    ArenaBlock chunk_;
    std::size_t used_ = 0;
};

}  // namespace ravel::detail
