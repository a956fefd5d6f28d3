// Reading a whole file named on the command line into memory, refused above a size limit before
// anything is read (the file is input: it may be huge, or not a regular file at all).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "ravel/result.hpp"

namespace ravel::cli {

// Errors start with `what` (for example "--text-file x.txt") so they name the option.
Result<std::string> read_whole_file(const std::filesystem::path& path, std::uintmax_t max_bytes,
                                    const std::string& what);

}  // namespace ravel::cli
