#include "token_list.hpp"

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace ravel::cli {

namespace {
Result<std::int32_t> parse_id(std::string_view s, const std::string& where) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    std::int32_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < 0) {
        return make_error(where + ": '" + std::string(s) +
                          "' is not a token id (a non-negative integer)");
    }
    return v;
}
}  // namespace

Result<std::vector<std::int32_t>> parse_token_list(std::string_view text) {
    std::vector<std::int32_t> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t comma = text.find(',', pos);
        const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
        auto id = parse_id(text.substr(pos, end - pos),
                           "--tokens item " + std::to_string(out.size() + 1));
        if (!id) return id.error();
        out.push_back(*id);
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return out;
}

Result<std::vector<std::int32_t>> read_token_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return make_error("cannot open token file '" + path.string() + "'");
    std::vector<std::int32_t> out;
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto id = parse_id(line, path.string() + " line " + std::to_string(line_no));
        if (!id) return id.error();
        out.push_back(*id);
    }
    return out;
}

}  // namespace ravel::cli
