#include "output_file.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>

namespace ravel::cli {

Result<void> write_file_replacing(const std::string& path, std::span<const std::byte> bytes) {
    // The process id keeps two ravel-cli processes writing the same file apart.
    const std::string partial = path + ".partial-" + std::to_string(::getpid());
    std::error_code ec;
    {
        std::ofstream f(partial, std::ios::binary | std::ios::trunc);
        if (!f) return make_error("cannot write '" + partial + "'");
        f.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
        f.flush();
        if (!f) {
            f.close();
            std::filesystem::remove(partial, ec);
            return make_error("writing '" + partial + "' failed (disk full?)");
        }
    }
    std::filesystem::rename(partial, path, ec);
    if (ec) {
        const std::string why = ec.message();
        std::filesystem::remove(partial, ec);
        return make_error("cannot move '" + partial + "' to '" + path + "': " + why);
    }
    return {};
}

}  // namespace ravel::cli
