// Locating the read-only reference data (../shared/data) for conformance tests.
#pragma once

#include <QtTest>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ravel::test {

// RAVEL_SHARED_DATA from the environment, else the path configured at build time.
inline std::filesystem::path shared_data_dir() {
    if (const char* env = std::getenv("RAVEL_SHARED_DATA"); env != nullptr && *env != '\0') {
        return env;
    }
    return RAVEL_DEFAULT_SHARED_DATA;
}

inline bool shared_data_present() {
    return std::filesystem::exists(shared_data_dir() / "README.md");
}

inline std::vector<char> read_file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::vector<float> read_f32_file(const std::filesystem::path& path) {
    auto bytes = read_file_bytes(path);
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

}  // namespace ravel::test

// Skips the current test function with a clear message when the reference data is absent.
#define RAVEL_REQUIRE_SHARED_DATA()                                                          \
    do {                                                                                     \
        if (!ravel::test::shared_data_present()) {                                           \
            QSKIP(qPrintable(QStringLiteral("reference data not found at %1; set "           \
                                            "RAVEL_SHARED_DATA to ../shared/data")           \
                                 .arg(QString::fromStdString(                                \
                                     ravel::test::shared_data_dir().string()))));            \
        }                                                                                    \
    } while (false)
