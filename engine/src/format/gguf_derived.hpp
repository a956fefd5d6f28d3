// Tensors a reader computes instead of finding them in the file: llama.cpp's GGUF stores some
// RWKV tensors transposed or rescaled, and Ravel hands them to the model in BlinkDL form.
// Each one gets its own 64-byte aligned buffer and a TensorInfo offset past the end of the
// file, so WeightFile::bytes() can tell the two kinds apart by offset alone.
//
// A buffer given a way to rebuild it (the K-quant re-encodings, computed again from the mapped
// file) can be released once the loader has copied it, so a model is not held twice while it
// loads; a later find() rebuilds it. find() and release() may be called from several threads.
// A span from find() stays valid until that buffer is released: the loader releases only what
// it copied and no longer reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

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
    // Fills a zeroed buffer with the tensor again; false if it cannot.
    using Rebuild = std::function<bool(std::span<std::byte>)>;

    // A zeroed buffer of `n` bytes and the offset a TensorInfo should carry for it; with
    // `rebuild`, the buffer may be released and is rebuilt when next found.
    Allocation allocate(std::uint64_t n, Rebuild rebuild = {});

    // The `n` bytes at `offset`, or an empty span unless they lie inside one buffer (or its
    // rebuild fails).
    std::span<const std::byte> find(std::uint64_t offset, std::uint64_t n) const;

    // Frees the buffer that is exactly `bytes` if it can be rebuilt; anything else is ignored.
    void release(std::span<const std::byte> bytes) const;

  private:
    struct Free {
        void operator()(std::byte* p) const;
    };
    using Buffer = std::unique_ptr<std::byte[], Free>;
    struct Block {
        std::uint64_t offset;
        std::uint64_t size;
        mutable Buffer data;  // null once released
        Rebuild rebuild;
    };
    static Buffer zeroed(std::uint64_t n);
    std::uint64_t base_;
    std::uint64_t next_;
    std::vector<Block> blocks_;  // in increasing offset order
    mutable std::mutex mutex_;   // guards each block's data
};

}  // namespace ravel
