// Reading token ids from "1,2,3" or from a file with one decimal id per line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"

namespace ravel::cli {

Result<std::vector<std::int32_t>> parse_token_list(std::string_view text);
Result<std::vector<std::int32_t>> read_token_file(const std::filesystem::path& path);

}  // namespace ravel::cli
