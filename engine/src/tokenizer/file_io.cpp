#include "tokenizer/file_io.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>

namespace ravel::tok {

Result<std::string> read_small_file(const std::filesystem::path& path, std::size_t max_bytes) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) {
        return make_error(path.string() + ": no such file");
    }
    if (!std::filesystem::is_regular_file(status)) {
        return make_error(path.string() + ": not a regular file");
    }
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return make_error(path.string() + ": cannot read size: " + ec.message());
    if (size > max_bytes) {
        return make_error(path.string() + ": " + std::to_string(size) +
                          " bytes is too large for a tokenizer file (limit " +
                          std::to_string(max_bytes) + ")");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(path.string() + ": cannot open: " + std::strerror(errno));
    std::string data(static_cast<std::size_t>(size), '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    if (static_cast<std::size_t>(in.gcount()) != data.size()) {
        return make_error(path.string() + ": short read (file changed while reading?)");
    }
    return data;
}

void Fnv64::add(std::string_view bytes) {
    for (char c : bytes) {
        h_ ^= static_cast<unsigned char>(c);
        h_ *= 0x100000001b3ULL;
    }
}

void Fnv64::add_u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        h_ ^= (v >> (8 * i)) & 0xFF;
        h_ *= 0x100000001b3ULL;
    }
}

std::string Fnv64::hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
}

}  // namespace ravel::tok
