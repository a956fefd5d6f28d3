// What the crash writer stores for its n-th message, so the test can check it independently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ravel::test {

inline std::string crash_message_text(std::int64_t n) {
    std::string s = "message " + std::to_string(n) + ": ";
    // Varying length, including multi-byte UTF-8.
    for (std::int64_t i = 0; i < 20 + (n * 37) % 400; ++i) s += (i % 7 == 0) ? "é" : "x";
    return s;
}

inline std::vector<std::int32_t> crash_message_tokens(std::int64_t n) {
    std::vector<std::int32_t> t(static_cast<std::size_t>(1 + n % 50));
    for (std::size_t i = 0; i < t.size(); ++i)
        t[i] = static_cast<std::int32_t>((n * 131 + i) % 65536);
    return t;
}

inline std::vector<std::byte> crash_snapshot_blob(std::int64_t n) {
    // 64 KiB .. 1 MiB, so a kill often lands in the middle of a large write.
    std::vector<std::byte> b(static_cast<std::size_t>(65536 + (n * 7919) % (1 << 20)));
    std::uint32_t x = static_cast<std::uint32_t>(n) * 2654435761u + 1;
    for (auto& v : b) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v = std::byte(x & 0xff);
    }
    return b;
}

}  // namespace ravel::test
