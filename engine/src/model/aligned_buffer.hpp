// A heap buffer aligned for SIMD loads; weights and activations live in these.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace ravel::detail {

class AlignedBuffer {
  public:
    static constexpr std::size_t kAlignment = 64;

    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t bytes) { resize(bytes); }
    AlignedBuffer(const AlignedBuffer& other) { *this = other; }
    AlignedBuffer& operator=(const AlignedBuffer& other) {
        if (this != &other) {
            resize(other.size_);
            if (size_) std::memcpy(data_.get(), other.data_.get(), size_);
        }
        return *this;
    }
    AlignedBuffer(AlignedBuffer&&) noexcept = default;
    AlignedBuffer& operator=(AlignedBuffer&&) noexcept = default;

    // Contents are not preserved. Returns false when the allocation fails.
    bool resize(std::size_t bytes) {
        if (bytes == size_) return true;
        data_.reset();
        size_ = 0;
        if (bytes == 0) return true;
        const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
        void* p = std::aligned_alloc(kAlignment, rounded);
        if (p == nullptr) return false;
        data_.reset(static_cast<std::byte*>(p));
        size_ = bytes;
        return true;
    }

    std::byte* data() { return data_.get(); }
    const std::byte* data() const { return data_.get(); }
    std::size_t size() const { return size_; }
    template <class T>
    T* as() {
        return reinterpret_cast<T*>(data_.get());
    }
    template <class T>
    const T* as() const {
        return reinterpret_cast<const T*>(data_.get());
    }

  private:
    struct FreeDeleter {
        void operator()(std::byte* p) const { std::free(p); }
    };
    std::unique_ptr<std::byte[], FreeDeleter> data_;
    std::size_t size_ = 0;
};

}  // namespace ravel::detail
