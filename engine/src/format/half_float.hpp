// IEEE half and bfloat16 to float, inline for the conversion loops (a call per value into
// tensor.cpp's branchy version was a third of the time loading an f16 model as q4_0).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace ravel::format {

// No branch on the value: a half's exponent and mantissa, moved into a float's places, are the
// value scaled by 2^-112 for normal and subnormal halves alike (a subnormal half is a normal
// float), so one exact multiply by 2^112 rescales them; infinities and NaNs (exponent all ones)
// get the float's all-ones exponent instead, keeping the payload. (A thread running with
// denormals-are-zero would read subnormal halves as 0; nothing in Ravel sets that mode.)
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t rest = static_cast<std::uint32_t>(h & 0x7fffu) << 13;
    float magnitude = std::bit_cast<float>(rest) * 0x1p112f;
    if ((h & 0x7c00u) == 0x7c00u) magnitude = std::bit_cast<float>(rest | 0x7f800000u);
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(magnitude) | sign);
}

// A little-endian half stored at `p` (block scales), as float.
inline float load_half(const void* p) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return half_to_float(h);
}

inline float bfloat_to_float(std::uint16_t b) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

}  // namespace ravel::format
