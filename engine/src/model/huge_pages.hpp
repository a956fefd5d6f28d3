// Anonymous memory in 2 MiB-aligned mappings marked for huge pages (Debian's default THP mode,
// "madvise", gives huge pages only to regions that ask). Untouched pages stay unallocated.
#pragma once

#include <cstddef>

namespace ravel::detail {

inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

// The bytes a mapping for `bytes` spans: whole huge pages, at least one (0 when that wraps).
constexpr std::size_t huge_mapping_bytes(std::size_t bytes) {
    return ((bytes == 0 ? 1 : bytes) + kHugePage - 1) / kHugePage * kHugePage;
}

// huge_mapping_bytes(bytes) of memory, 2 MiB aligned; null when it can't be had.
std::byte* map_huge(std::size_t bytes);
// Frees what map_huge(bytes) gave, with the same `bytes`.
void unmap_huge(void* p, std::size_t bytes) noexcept;

}  // namespace ravel::detail
