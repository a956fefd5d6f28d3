#include "format/gguf_derived.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include "format/mapped_file.hpp"

namespace ravel {

namespace {
constexpr std::uint64_t kAlign = 64;
// Buffers from this size on are mapped pages: a loader copying one gives it back as it goes.
constexpr std::uint64_t kMappedBytes = 1 << 20;
std::uint64_t align_up(std::uint64_t v) {
    return (v + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

DerivedTensors::Buffer::Buffer(std::uint64_t n)
    : size_(static_cast<std::size_t>(std::max<std::uint64_t>(n, 1))) {
    if (size_ >= kMappedBytes) {
        void* p =
            ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        data_ = static_cast<std::byte*>(p);
        mapped_ = true;
        return;
    }
    data_ = static_cast<std::byte*>(::operator new[](size_, std::align_val_t{kAlign}));
    std::memset(data_, 0, size_);
}

DerivedTensors::Buffer::~Buffer() {
    if (data_ == nullptr) return;
    if (mapped_) {
        ::munmap(data_, size_);
    } else {
        ::operator delete[](data_, std::align_val_t{kAlign});
    }
}

void DerivedTensors::Buffer::drop(const std::byte* p, std::size_t n) const {
    if (mapped_) drop_whole_pages(p, n);
}

DerivedTensors::DerivedTensors(std::uint64_t file_size)
    : base_(align_up(file_size) + kAlign), next_(base_) {}

DerivedTensors::Allocation DerivedTensors::allocate(std::uint64_t n, Rebuild rebuild) {
    Block b{next_, n, Buffer(n), false, std::move(rebuild), {}};
    std::byte* p = b.data.get();
    next_ += align_up(std::max<std::uint64_t>(n, 1));
    blocks_.push_back(std::move(b));
    return {blocks_.back().offset, {p, static_cast<std::size_t>(n)}};
}

std::uint64_t DerivedTensors::defer(std::uint64_t n, Rebuild build) {
    blocks_.push_back(Block{next_, n, Buffer(), false, std::move(build), {}});
    next_ += align_up(std::max<std::uint64_t>(n, 1));
    return blocks_.back().offset;
}

const DerivedTensors::Block* DerivedTensors::block_at(std::uint64_t offset) const {
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), offset,
                               [](std::uint64_t o, const Block& b) { return o < b.offset; });
    return it == blocks_.begin() ? nullptr : &*std::prev(it);
}

std::span<const std::byte> DerivedTensors::find(std::uint64_t offset, std::uint64_t n) const {
    const Block* found = block_at(offset);
    if (found == nullptr) return {};
    const Block& b = *found;
    const std::uint64_t rel = offset - b.offset;
    if (rel > b.size || n > b.size - rel) return {};
    std::lock_guard lock(mutex_);
    if (b.data.get() == nullptr || b.stale) {
        if (!b.rebuild) return {};
        // A stale buffer keeps what was not given back and reads zeros where it was: the
        // rebuild writes every byte either way.
        Buffer fresh = b.stale ? std::move(b.data) : Buffer(b.size);
        b.stale = false;
        auto built = b.rebuild({fresh.get(), static_cast<std::size_t>(b.size)});
        if (!built) {
            b.failure = built.message();
            return {};
        }
        b.failure.clear();
        b.data = std::move(fresh);
    }
    return {b.data.get() + rel, static_cast<std::size_t>(n)};
}

std::string DerivedTensors::failure(std::uint64_t offset) const {
    const Block* b = block_at(offset);
    if (b == nullptr) return {};
    std::lock_guard lock(mutex_);
    return b->failure;
}

void DerivedTensors::release(std::span<const std::byte> bytes) const {
    std::lock_guard lock(mutex_);
    for (const Block& b : blocks_) {
        const std::byte* data = b.data.get();
        if (!b.rebuild || data == nullptr || bytes.data() < data || bytes.data() >= data + b.size ||
            bytes.size() > b.size - (bytes.data() - data)) {
            continue;
        }
        if (bytes.data() == data && bytes.size() == b.size) {
            b.data = Buffer();
            b.stale = false;
        } else if (b.data.mapped()) {
            b.data.drop(bytes.data(), bytes.size());
            b.stale = true;
        }
        return;
    }
}

std::uint64_t DerivedTensors::held_bytes() const {
    std::lock_guard lock(mutex_);
    std::uint64_t held = 0;
    for (const Block& b : blocks_) {
        if (b.data.get() != nullptr) held += b.size;
    }
    return held;
}

}  // namespace ravel
