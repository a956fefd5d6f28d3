// Tensors a reader computes instead of finding them in the file: llama.cpp's GGUF stores some
// RWKV tensors transposed or rescaled, and Ravel hands them to the model in BlinkDL form.
// Each one gets its own 64-byte aligned buffer and a TensorInfo offset past the end of the
// file, so WeightFile::bytes() can tell the two kinds apart by offset alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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
    // A zeroed buffer of `n` bytes and the offset a TensorInfo should carry for it.
    Allocation allocate(std::uint64_t n);

    // The `n` bytes at `offset`, or an empty span unless they lie inside one buffer.
    std::span<const std::byte> find(std::uint64_t offset, std::uint64_t n) const;

  private:
    struct Free {
        void operator()(std::byte* p) const;
    };
    struct Block {
        std::uint64_t offset;
        std::uint64_t size;
        std::unique_ptr<std::byte[], Free> data;
    };
    std::uint64_t base_;
    std::uint64_t next_;
    std::vector<Block> blocks_;  // in increasing offset order
};

}  // namespace ravel
