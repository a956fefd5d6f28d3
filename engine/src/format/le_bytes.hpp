// Little-endian loads from unaligned bytes. Callers check bounds first; these never do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ravel::format {

inline std::uint16_t load_u16(const std::byte* p) {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                      (std::to_integer<unsigned>(p[1]) << 8));
}

inline std::uint32_t load_u32(const std::byte* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
    return v;
}

inline std::uint64_t load_u64(const std::byte* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
    return v;
}

}  // namespace ravel::format
