// Reading tokenizer files and fingerprinting token tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "ravel/result.hpp"

namespace ravel::tok {

// The whole file, refused when larger than `max_bytes` (tokenizer files are a few MiB; a
// multi-gigabyte "vocabulary" is a mistake, not something to allocate for).
Result<std::string> read_small_file(const std::filesystem::path& path, std::size_t max_bytes);

// FNV-1a, 64 bit: a cheap, stable fingerprint for token tables (not a security hash).
class Fnv64 {
  public:
    void add(std::string_view bytes);
    void add_u64(std::uint64_t v);
    std::uint64_t value() const { return h_; }
    std::string hex() const;

  private:
    std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace ravel::tok
