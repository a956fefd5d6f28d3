#include "model/cpu/activation_cache.hpp"

#include <new>

#include "model/cpu/thread_pool.hpp"

namespace ravel::detail::cpu {

namespace {
struct Slot {
    ActivationCache cache;
    std::size_t capacity = 0;
    ~Slot() { ::operator delete (cache.data, std::align_val_t{64}); }
};
}  // namespace

std::uint64_t current_region() {
    return ThreadPool::current_region();
}

ActivationCache* activation_cache(std::size_t bytes) {
    thread_local Slot slot;
    if (slot.capacity < bytes) {
        auto* data =
            static_cast<std::byte*>(::operator new (bytes, std::align_val_t{64}, std::nothrow));
        if (data == nullptr) return nullptr;
        ::operator delete (slot.cache.data, std::align_val_t{64});
        slot.cache = ActivationCache{};
        slot.cache.data = data;
        slot.capacity = bytes;
    }
    return &slot.cache;
}

}  // namespace ravel::detail::cpu
