#include "text_file.hpp"

#include <fstream>
#include <system_error>

namespace ravel::cli {

Result<std::string> read_whole_file(const std::filesystem::path& path, std::uintmax_t max_bytes,
                                    const std::string& what) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return make_error(what + ": no such file");
    const auto size = fs::file_size(path, ec);
    if (ec) return make_error(what + ": " + ec.message());
    if (size > max_bytes) {
        return make_error(what + ": larger than the limit of " + std::to_string(max_bytes >> 20) +
                          " MiB");
    }
    std::ifstream in(path, std::ios::binary);
    std::string text(static_cast<std::size_t>(size), '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (!in && !text.empty()) return make_error(what + ": read failed");
    return text;
}

}  // namespace ravel::cli
