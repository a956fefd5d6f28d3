#include "model/weight_arena.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif
#include <sanitizer/asan_interface.h>  // the poisoning macros are no-ops without ASan

namespace ravel::detail {

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kAlignment = 64;

constexpr std::size_t round_up(std::size_t n, std::size_t to) {
    return (n + to - 1) / to * to;
}

Error out_of_memory(std::size_t bytes) {
    return make_error("out of memory allocating " + std::to_string((bytes + (1u << 20) - 1) >> 20) +
                      " MiB for model weights");
}

}  // namespace

Result<ArenaBlock> allocate_huge(std::size_t bytes) {
    const std::size_t size = round_up(std::max<std::size_t>(bytes, 1), kHugePage);
#if defined(__linux__)
    // Over-allocate by one huge page, then trim both ends so the mapping starts on a 2 MiB
    // boundary: only aligned 2 MiB ranges can be backed by huge pages.
    void* raw =
        mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return out_of_memory(bytes);
    auto* base = static_cast<std::byte*>(raw);
    const auto addr = reinterpret_cast<std::uintptr_t>(base);
    const std::size_t lead = round_up(addr, kHugePage) - addr;
    if (lead > 0) munmap(base, lead);
    if (kHugePage - lead > 0) munmap(base + lead + size, kHugePage - lead);
    std::byte* data = base + lead;
    // Advice only: where THP is off, this fails and the pages are ordinary ones.
    (void)madvise(data, size, MADV_HUGEPAGE);
    std::shared_ptr<const void> owner(data, [size](const void* p) {
        ASAN_UNPOISON_MEMORY_REGION(p, size);  // the arena may have poisoned some of it
        munmap(const_cast<void*>(p), size);
    });
    return ArenaBlock{data, std::move(owner)};
#else
    void* p = std::aligned_alloc(kHugePage, size);
    if (p == nullptr) return out_of_memory(bytes);
    std::shared_ptr<const void> owner(p, [size](const void* q) {
        ASAN_UNPOISON_MEMORY_REGION(q, size);
        std::free(const_cast<void*>(q));
    });
    return ArenaBlock{static_cast<std::byte*>(p), std::move(owner)};
#endif
}

Result<ArenaBlock> WeightArena::allocate(std::size_t bytes) {
    // A large matrix would strand too much of a chunk's tail: it gets its own mapping.
    if (bytes > kChunkBytes / 4) {
        auto block = allocate_huge(bytes);
        if (block)
            ASAN_POISON_MEMORY_REGION(block->data + bytes, round_up(bytes, kHugePage) - bytes);
        return block;
    }
    const std::size_t exact = bytes;
    bytes = round_up(std::max<std::size_t>(bytes, 1), kAlignment);
    if (chunk_.data == nullptr || used_ + bytes > kChunkBytes) {
        auto chunk = allocate_huge(kChunkBytes);
        if (!chunk) return chunk.error();
        chunk_ = std::move(*chunk);
        used_ = 0;
        // Under ASan the chunk stays poisoned except for the blocks handed out, so reading
        // past a matrix's end is reported as it would be for a heap buffer.
        ASAN_POISON_MEMORY_REGION(chunk_.data, kChunkBytes);
    }
    ArenaBlock block{chunk_.data + used_, chunk_.keep_alive};
    ASAN_UNPOISON_MEMORY_REGION(block.data, exact);
    used_ += bytes;
    return block;
}

}  // namespace ravel::detail
