// Files ravel-cli writes (logits, states, exported conversations): written beside the target and
// renamed over it, so an interrupted or failed write never leaves a truncated file where a good
// one was, such as the state of `eval --state-in s.f32 --state-out s.f32`.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "ravel/result.hpp"

namespace ravel::cli {

Result<void> write_file_replacing(const std::string& path, std::span<const std::byte> bytes);

}  // namespace ravel::cli
