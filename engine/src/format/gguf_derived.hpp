// Tensors a reader computes instead of finding them in the file: llama.cpp's GGUF stores some
// RWKV tensors transposed or rescaled, and Ravel hands them to the model in BlinkDL form.
// Each one gets its own 64-byte aligned buffer and a TensorInfo offset past the end of the
// file, so WeightFile::bytes() can tell the two kinds apart by offset alone.
//
// A buffer given a way to rebuild it (the K-quant re-encodings, computed from the mapped file)
// can be released once the loader has copied it, so a model is not held twice while it loads;
// a later find() rebuilds it. Such a buffer may also be deferred: built at its first find(), so
// opening a file costs nothing for tensors nobody reads. Large ones are mapped pages, which the
// loader also gives back piece by piece as it copies them (release of a part), so the copy of the
// largest tensor (a q8_0 head) does not sit beside the whole of its source. find() and release()
// may be called from several threads. A span from find() stays valid until that buffer, or that
// part of it, is released: the loader releases only what it copied and no longer reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ravel/result.hpp"

namespace ravel {

class DerivedTensors {
  public:
    // `file_size`: the length of the mapped file; every offset handed out lies beyond it.
    explicit DerivedTensors(std::uint64_t file_size);

    std::uint64_t base() const { return base_; }
    bool empty() const { return blocks_.empty(); }

    struct Allocation {
        std::uint64_t offset;
        std::span<std::byte> bytes;
    };
    // Fills a zeroed buffer with the tensor; an error (a corrupt source) if it cannot. It runs
    // under this object's lock and may read other derived tensors (find(), release()): a
    // rescaled llama.cpp matrix is computed from a K-quant re-encoding.
    using Rebuild = std::function<Result<void>(std::span<std::byte>)>;

    // A zeroed buffer of `n` bytes and the offset a TensorInfo should carry for it; with
    // `rebuild`, the buffer may be released and is rebuilt when next found.
    Allocation allocate(std::uint64_t n, Rebuild rebuild = {});

    // The offset of a buffer of `n` bytes that `build` fills at its first find(); until then
    // it takes no memory. It may be released and is rebuilt like the others.
    std::uint64_t defer(std::uint64_t n, Rebuild build);

    // The `n` bytes at `offset`, or an empty span unless they lie inside one buffer (or its
    // rebuild fails: failure() tells why).
    std::span<const std::byte> find(std::uint64_t offset, std::uint64_t n) const;

    // Why the last find() of the buffer holding `offset` found nothing when its rebuild
    // failed; empty otherwise.
    std::string failure(std::uint64_t offset) const;

    // For a buffer that can be rebuilt: frees it when `bytes` is all of it; when `bytes` is a
    // part of a mapped (large) one, gives back the whole pages inside that part, and the next
    // find() rebuilds the buffer in place. Anything else is ignored.
    void release(std::span<const std::byte> bytes) const;

    // The sizes of the buffers held now (built, and not released since): what the derived
    // tensors cost in memory at the moment.
    std::uint64_t held_bytes() const;

  private:
    // Zero-filled storage: mapped pages from kMappedBytes on, so parts can be given back;
    // aligned heap memory below that.
    class Buffer {
      public:
        Buffer() = default;
        explicit Buffer(std::uint64_t n);
        Buffer(Buffer&& other) noexcept { swap(other); }
        Buffer& operator=(Buffer&& other) noexcept {
            Buffer(std::move(other)).swap(*this);
            return *this;
        }
        ~Buffer();
        std::byte* get() const { return data_; }
        bool mapped() const { return mapped_; }
        // Returns the whole pages inside [p, p + n) to the system; they read as zeros after.
        void drop(const std::byte* p, std::size_t n) const;

      private:
        void swap(Buffer& other) noexcept {
            std::swap(data_, other.data_);
            std::swap(size_, other.size_);
            std::swap(mapped_, other.mapped_);
        }
        std::byte* data_ = nullptr;
        std::size_t size_ = 0;
        bool mapped_ = false;
    };
    struct Block {
        std::uint64_t offset;
        std::uint64_t size;
        mutable Buffer data;         // empty once released
        mutable bool stale = false;  // a part was given back: rebuild before the next read
        Rebuild rebuild;
        mutable std::string failure;  // the last rebuild's error
    };
    const Block* block_at(std::uint64_t offset) const;
    std::uint64_t base_;
    std::uint64_t next_;
    std::vector<Block> blocks_;  // in increasing offset order
    // Guards each block's data; recursive, as a rebuild may find() another block.
    mutable std::recursive_mutex mutex_;
};

}  // namespace ravel
