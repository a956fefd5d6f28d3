#include "format/kquant.hpp"

#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "format/half_float.hpp"
#include "ravel/tensor.hpp"

namespace ravel::format {

namespace {

// The 6-bit scale and min of group g (0-7) of a q4_K / q5_K super-block. Groups 0-3 keep theirs
// in the low six bits of bytes g and g + 4; groups 4-7 in the nibbles of byte g + 4, with their
// top two bits in the spare high bits of bytes g - 4 and g.
void scale_and_min(const std::uint8_t* s, int g, int& scale, int& min) {
    if (g < 4) {
        scale = s[g] & 63;
        min = s[g + 4] & 63;
    } else {
        scale = (s[g + 4] & 0x0F) | ((s[g - 4] >> 6) << 4);
        min = (s[g + 4] >> 4) | ((s[g] >> 6) << 4);
    }
}

// q4_K and q5_K: groups of 32 in pairs sharing 32 bytes of nibbles (low nibbles the first group,
// high the second); q5_K's fifth bit of value l of group g is bit g of high[l]. The q of group g.
void group_quants(const std::uint8_t* high, const std::uint8_t* qs, int g, std::uint8_t q[32]) {
    const std::uint8_t* nibbles = qs + 32 * (g / 2);
    const int shift = 4 * (g % 2);
    for (int l = 0; l < 32; ++l) {
        int v = (nibbles[l] >> shift) & 0x0F;
        if (high != nullptr) v |= ((high[l] >> g) & 1) << 4;
        q[l] = static_cast<std::uint8_t>(v);
    }
}

// Bit g of each of the 32 bytes at p, as bit l of the result for byte l: q5_K's fifth bits of a
// group, which q5_1 keeps in the same order. With SSE2 a 16-bit shift puts bit g of both bytes
// of a lane at their top bits (what comes in from the low byte stays below bit 15) and one
// movemask reads 16 of them.
std::uint32_t bit_plane(const std::uint8_t* p, int g) {
#if defined(__SSE2__)
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    const __m128i shift = _mm_cvtsi32_si128(7 - g);
    const auto bits = [&shift](__m128i v) {
        return static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_sll_epi16(v, shift)));
    };
    return bits(lo) | bits(hi) << 16;
#else
    std::uint32_t plane = 0;
    for (int l = 0; l < 32; ++l) plane |= static_cast<std::uint32_t>((p[l] >> g) & 1) << l;
    return plane;
#endif
}

void dequantize_q45_k(const std::uint8_t* b, const std::uint8_t* high, const std::uint8_t* qs,
                      float* y) {
    const float d = load_half(b);
    const float dmin = load_half(b + 2);
    for (int g = 0; g < 8; ++g) {
        int sc = 0, m = 0;
        scale_and_min(b + 4, g, sc, m);
        const float dg = d * static_cast<float>(sc);
        const float mg = dmin * static_cast<float>(m);
        std::uint8_t q[32];
        group_quants(high, qs, g, q);
        for (int l = 0; l < 32; ++l) y[32 * g + l] = dg * static_cast<float>(q[l]) - mg;
    }
}

// q6_K: two halves of 128 values; in each, value l of quarter k takes the low or high nibble of
// ql[l] or ql[l + 32] and bit pair k of qh[l], and its scale from its group of 16.
// Each group of 16 values has one scale, so the inner loop is the same byte arithmetic for all
// 16, which the compiler vectorises (0.57 -> 0.2 us per super-block).
void dequantize_q6_k(const std::uint8_t* b, float* y) {
    const float d = load_half(b + 208);
    for (int half = 0; half < 2; ++half) {
        const std::uint8_t* ql = b + 64 * half;
        const std::uint8_t* qh = b + 128 + 32 * half;
        const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192 + 8 * half);
        float* out = y + 128 * half;
        for (int k = 0; k < 4; ++k) {
            const std::uint8_t* low = ql + 32 * (k % 2);
            const int nibble_shift = k < 2 ? 0 : 4;
            for (int group = 0; group < 2; ++group) {
                const float scale = d * static_cast<float>(sc[group + 2 * k]);
                for (int l = 16 * group; l < 16 * group + 16; ++l) {
                    const int nibble = (low[l] >> nibble_shift) & 0x0F;
                    const int q = (nibble | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                    out[32 * k + l] = scale * static_cast<float>(q);
                }
            }
        }
    }
}

// f16 of a group's scale or minimum, or false where the float is not a finite f16.
bool to_half(float v, std::uint16_t& out) {
    if (!std::isfinite(v) || std::fabs(v) > 65504.0f) return false;
    out = f32_to_f16(v);
    return true;
}

// One q4_K / q5_K super-block as eight q5_1 blocks: f16 d, f16 m, 32 high bits, 16 bytes of
// nibbles (value i low, value i + 16 high).
bool q45_k_to_q5_1(const std::uint8_t* b, const std::uint8_t* high, const std::uint8_t* qs,
                   std::byte* out) {
    const float d = load_half(b);
    const float dmin = load_half(b + 2);
    for (int g = 0; g < 8; ++g, out += 24) {
        int sc = 0, m = 0;
        scale_and_min(b + 4, g, sc, m);
        std::uint16_t dh = 0, mh = 0;
        if (!to_half(d * static_cast<float>(sc), dh) || !to_half(-dmin * static_cast<float>(m), mh))
            return false;
        // The group's nibbles, value l low and l + 16 high as q5_1 packs them, and its fifth
        // bits (none in q4_K).
        const std::uint8_t* nibbles = qs + 32 * (g / 2);
        const int shift = 4 * (g % 2);
        std::uint8_t packed[16];
        for (int l = 0; l < 16; ++l) {
            packed[l] = static_cast<std::uint8_t>(((nibbles[l] >> shift) & 0x0F) |
                                                  (((nibbles[l + 16] >> shift) & 0x0F) << 4));
        }
        const std::uint32_t qh = high != nullptr ? bit_plane(high, g) : 0;
        std::memcpy(out, &dh, 2);
        std::memcpy(out + 2, &mh, 2);
        std::memcpy(out + 4, &qh, 4);
        std::memcpy(out + 8, packed, 16);
    }
    return true;
}

}  // namespace

bool kquant_fits_q5_1(std::uint32_t ggml_type) {
    return ggml_type == kGgmlQ4K || ggml_type == kGgmlQ5K;
}

bool kquant_to_q5_1(std::uint32_t ggml_type, const std::byte* src, std::size_t blocks,
                    std::byte* dst) {
    if (!kquant_fits_q5_1(ggml_type)) return false;
    const std::size_t in_bytes = *kquant_block_bytes(ggml_type);
    const bool q5 = ggml_type == kGgmlQ5K;
    for (std::size_t i = 0; i < blocks; ++i) {
        const auto* b = reinterpret_cast<const std::uint8_t*>(src + i * in_bytes);
        if (!q45_k_to_q5_1(b, q5 ? b + 16 : nullptr, q5 ? b + 48 : b + 16, dst + i * 8 * 24))
            return false;
    }
    return true;
}

std::optional<std::size_t> kquant_block_bytes(std::uint32_t ggml_type) {
    switch (ggml_type) {
        case kGgmlQ4K:
            return 144;
        case kGgmlQ5K:
            return 176;
        case kGgmlQ6K:
            return 210;
        default:
            return std::nullopt;
    }
}

bool dequantize_kquant(std::uint32_t ggml_type, const std::byte* src, std::span<float> out) {
    const auto block = kquant_block_bytes(ggml_type);
    if (!block) return false;
    const auto* b = reinterpret_cast<const std::uint8_t*>(src);
    for (std::size_t i = 0; i + kKQuantBlock <= out.size(); i += kKQuantBlock, b += *block) {
        float* y = out.data() + i;
        switch (ggml_type) {
            case kGgmlQ4K:
                dequantize_q45_k(b, nullptr, b + 16, y);
                break;
            case kGgmlQ5K:
                dequantize_q45_k(b, b + 16, b + 48, y);
                break;
            default:
                dequantize_q6_k(b, y);
                break;
        }
    }
    return true;
}

}  // namespace ravel::format
