#include "model/cpu/activation_cache.hpp"

#include <new>

#include "model/cpu/thread_pool.hpp"

namespace ravel::detail::cpu {

namespace {
struct Slot {
    ActivationCache cache;
    std::size_t capacity = 0;
    std::uint64_t last_use = 0;
    ~Slot() { ::operator delete (cache.data, std::align_val_t{64}); }
};
}  // namespace

std::uint64_t current_region() {
    return ThreadPool::current_region();
}

ActivationCache* activation_cache(std::size_t bytes, const float* x) {
    thread_local Slot slots[kActivationCacheSlots];
    thread_local std::uint64_t uses = 0;
    // The slot that holds x, else the one used longest ago.
    Slot* slot = &slots[0];
    for (Slot& s : slots) {
        if (s.cache.x == x && s.cache.data != nullptr) {
            slot = &s;
            break;
        }
        if (s.last_use < slot->last_use) slot = &s;
    }
    if (slot->capacity < bytes) {
        auto* data =
            static_cast<std::byte*>(::operator new (bytes, std::align_val_t{64}, std::nothrow));
        if (data == nullptr) return nullptr;
        ::operator delete (slot->cache.data, std::align_val_t{64});
        slot->cache = ActivationCache{};
        slot->cache.data = data;
        slot->capacity = bytes;
    }
    slot->last_use = ++uses;
    return &slot->cache;
}

}  // namespace ravel::detail::cpu
