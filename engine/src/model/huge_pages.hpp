// Anonymous memory in 2 MiB-aligned mappings marked for huge pages (Debian's default THP mode,
// "madvise", gives huge pages only to regions that ask). Untouched pages stay unallocated.
#pragma once

#include <cstddef>

namespace ravel::detail {

inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

// `bytes` rounded up to whole huge pages; null when the memory can't be had.
std::byte* map_huge(std::size_t bytes);
// Frees what map_huge(bytes) gave, with the same `bytes`.
void unmap_huge(void* p, std::size_t bytes) noexcept;

}  // namespace ravel::detail
