#include "model/huge_pages.hpp"

#include <cstdint>
#include <cstdlib>
#include <new>

#include "ravel/large_allocator.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace ravel::detail {

std::byte* map_huge(std::size_t bytes) {
    const std::size_t size = huge_mapping_bytes(bytes);
    if (size < bytes || size + kHugePage < size) return nullptr;  // wrapped around
#if defined(__linux__)
    // Over-allocate by one huge page, then trim both ends so the mapping starts on a 2 MiB
    // boundary: only aligned 2 MiB ranges can be backed by huge pages.
    void* raw =
        mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    auto* base = static_cast<std::byte*>(raw);
    const auto addr = reinterpret_cast<std::uintptr_t>(base);
    const std::size_t lead = (kHugePage - addr % kHugePage) % kHugePage;
    if (lead > 0) munmap(base, lead);
    if (kHugePage - lead > 0) munmap(base + lead + size, kHugePage - lead);
    std::byte* data = base + lead;
    // Advice only: where THP is off, this fails and the pages are ordinary ones.
    (void)madvise(data, size, MADV_HUGEPAGE);
    return data;
#else
    return static_cast<std::byte*>(std::aligned_alloc(kHugePage, size));
#endif
}

void unmap_huge(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
#if defined(__linux__)
    munmap(p, huge_mapping_bytes(bytes));
#else
    (void)bytes;
    std::free(p);
#endif
}

}  // namespace ravel::detail

namespace ravel {

void* allocate_large(std::size_t bytes) {
    if (bytes < kLargeAllocationBytes) return ::operator new (bytes, std::align_val_t{64});
    // Large ones always come from here, so free_large can tell them apart by size alone.
    if (std::byte* p = detail::map_huge(bytes)) return p;
    throw std::bad_alloc();
}

void free_large(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
    if (bytes >= kLargeAllocationBytes) {
        detail::unmap_huge(p, bytes);
    } else {
        ::operator delete (p, std::align_val_t{64});
    }
}

}  // namespace ravel
