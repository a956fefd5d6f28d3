#include "model/weight_arena.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <sanitizer/asan_interface.h>  // the poisoning macros are no-ops without ASan

#include "model/huge_pages.hpp"

namespace ravel::detail {

namespace {

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
    std::byte* data = map_huge(bytes);
    if (data == nullptr) return out_of_memory(bytes);
    const std::size_t size = huge_mapping_bytes(bytes);
    std::shared_ptr<const void> owner(data, [size](const void* p) {
        ASAN_UNPOISON_MEMORY_REGION(p, size);  // the arena may have poisoned some of it
        unmap_huge(const_cast<void*>(p), size);
    });
    return ArenaBlock{data, std::move(owner)};
}

Result<ArenaBlock> WeightArena::allocate(std::size_t bytes) {
    // A large matrix would strand too much of a chunk's tail: it gets its own mapping.
    if (bytes > kChunkBytes / 4) {
        auto block = allocate_huge(bytes);
        if (block)
            ASAN_POISON_MEMORY_REGION(block->data + bytes, huge_mapping_bytes(bytes) - bytes);
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
