// JSON as ravel-cli prints it. Strings that are not UTF-8 (a file name, which Linux lets be any
// bytes; a title stored by an older build) come out with U+FFFD in place of the bad bytes:
// nlohmann's default dump() throws on them, which aborted the command after its work was done.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ravel::cli {

inline std::string json_text(const nlohmann::json& j, int indent = -1) {
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ravel::cli
