// A read-only memory mapping of a whole file. Weight files are mapped rather than read so that
// opening a multi-gigabyte model costs no copy and tensors can point straight into the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "ravel/result.hpp"

namespace ravel {

// Gives the whole pages inside [p, p + n) back to the system (MADV_DONTNEED): a file mapping
// reads them again from the file, anonymous memory reads zeros.
void drop_whole_pages(const std::byte* p, std::size_t n);

class MappedFile {
  public:
    // Errors (missing, not a regular file, unreadable, empty) name the path.
    static Result<std::shared_ptr<MappedFile>> open(const std::filesystem::path& path);

    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    const std::byte* data() const { return data_; }
    std::uint64_t size() const { return size_; }
    std::span<const std::byte> bytes() const { return {data_, static_cast<std::size_t>(size_)}; }
    // Gives back the whole pages inside `range` once nothing needs them in memory: the file
    // still holds them, and a later read maps them again. A range not wholly inside bytes() is
    // left alone.
    void drop_pages(std::span<const std::byte> range) const;

  private:
    MappedFile(const std::byte* data, std::uint64_t size) : data_(data), size_(size) {}

    const std::byte* data_ = nullptr;
    std::uint64_t size_ = 0;
};

}  // namespace ravel
