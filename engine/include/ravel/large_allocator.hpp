// An allocator for buffers that are written whole as soon as they exist: recurrent states and
// the snapshot blobs made from them (a few MiB for a 0.1B model, tens of MiB for a 7B one).
// Those from kLargeAllocationBytes up get memory of their own, 2 MiB aligned and marked for
// huge pages, so a fresh buffer is faulted in a 2 MiB page at a time instead of 4 KiB
// (measured on a VM guest: 2.7 MB in 9.3 ms against 0.45 ms). Smaller ones come from the heap.
#pragma once

#include <cstddef>
#include <new>

namespace ravel {

inline constexpr std::size_t kLargeAllocationBytes = std::size_t{1} << 20;

// At least 64-byte aligned. Throws std::bad_alloc when memory can't be had.
void* allocate_large(std::size_t bytes);
// Frees what allocate_large(bytes) gave, with the same `bytes`.
void free_large(void* p, std::size_t bytes) noexcept;

template <class T>
struct LargeAllocator {
    using value_type = T;

    LargeAllocator() = default;
    template <class U>
    LargeAllocator(const LargeAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
        return static_cast<T*>(allocate_large(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { free_large(p, n * sizeof(T)); }

    template <class U>
    bool operator==(const LargeAllocator<U>&) const noexcept {
        return true;
    }
};

}  // namespace ravel
