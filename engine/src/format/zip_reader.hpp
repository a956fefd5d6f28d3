// The directory of a zip archive held in memory, enough to read a PyTorch checkpoint: end of
// central directory (plain and zip64), central directory entries and the local headers that
// say where each entry's bytes start. Only stored (uncompressed) entries are accepted, because
// PyTorch writes nothing else and the tensors must stay mappable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"

namespace ravel::format {

struct ZipEntry {
    std::string name;
    std::uint64_t data_offset = 0;  // from the start of the archive, checked to lie inside it
    std::uint64_t size = 0;
};

class ZipReader {
  public:
    // Reads and checks the whole directory; every offset is checked against archive.size().
    static Result<ZipReader> open(std::span<const std::byte> archive);

    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(std::string_view name) const;
    std::span<const std::byte> data(const ZipEntry& entry) const;

  private:
    std::span<const std::byte> archive_;
    std::vector<ZipEntry> entries_;  // sorted by name for find()
};

}  // namespace ravel::format
