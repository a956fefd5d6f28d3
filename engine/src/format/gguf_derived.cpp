#include "format/gguf_derived.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace ravel {

namespace {
constexpr std::uint64_t kAlign = 64;
std::uint64_t align_up(std::uint64_t v) {
    return (v + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

void DerivedTensors::Free::operator()(std::byte* p) const {
    ::operator delete[](p, std::align_val_t{kAlign});
}

DerivedTensors::DerivedTensors(std::uint64_t file_size)
    : base_(align_up(file_size) + kAlign), next_(base_) {}

DerivedTensors::Buffer DerivedTensors::zeroed(std::uint64_t n) {
    const std::uint64_t size = std::max<std::uint64_t>(n, 1);
    auto* p = static_cast<std::byte*>(::operator new[](size, std::align_val_t{kAlign}));
    std::memset(p, 0, size);
    return Buffer(p);
}

DerivedTensors::Allocation DerivedTensors::allocate(std::uint64_t n, Rebuild rebuild) {
    Block b{next_, n, zeroed(n), std::move(rebuild)};
    std::byte* p = b.data.get();
    next_ += align_up(std::max<std::uint64_t>(n, 1));
    blocks_.push_back(std::move(b));
    return {blocks_.back().offset, {p, static_cast<std::size_t>(n)}};
}

std::span<const std::byte> DerivedTensors::find(std::uint64_t offset, std::uint64_t n) const {
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), offset,
                               [](std::uint64_t o, const Block& b) { return o < b.offset; });
    if (it == blocks_.begin()) return {};
    const Block& b = *std::prev(it);
    const std::uint64_t rel = offset - b.offset;
    if (rel > b.size || n > b.size - rel) return {};
    std::lock_guard lock(mutex_);
    if (!b.data) {
        Buffer fresh = zeroed(b.size);
        if (!b.rebuild || !b.rebuild({fresh.get(), static_cast<std::size_t>(b.size)})) return {};
        b.data = std::move(fresh);
    }
    return {b.data.get() + rel, static_cast<std::size_t>(n)};
}

void DerivedTensors::release(std::span<const std::byte> bytes) const {
    std::lock_guard lock(mutex_);
    for (const Block& b : blocks_) {
        if (b.rebuild && b.data && b.data.get() == bytes.data() && b.size == bytes.size()) {
            b.data.reset();
            return;
        }
    }
}

}  // namespace ravel
