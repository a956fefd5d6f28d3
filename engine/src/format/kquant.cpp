#include "format/kquant.hpp"

#include <cmath>
#include <cstring>

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
void dequantize_q6_k(const std::uint8_t* b, float* y) {
    const float d = load_half(b + 208);
    for (int half = 0; half < 2; ++half) {
        const std::uint8_t* ql = b + 64 * half;
        const std::uint8_t* qh = b + 128 + 32 * half;
        const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192 + 8 * half);
        float* out = y + 128 * half;
        for (int k = 0; k < 4; ++k) {
            for (int l = 0; l < 32; ++l) {
                const std::uint8_t low = ql[l + 32 * (k % 2)];
                const int nibble = k < 2 ? (low & 0x0F) : (low >> 4);
                const int q = (nibble | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                const float scale = d * static_cast<float>(sc[l / 16 + 2 * k]);
                out[32 * k + l] = scale * static_cast<float>(q);
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
        std::uint8_t q[32];
        group_quants(high, qs, g, q);
        std::uint32_t qh = 0;
        for (int l = 0; l < 32; ++l) qh |= static_cast<std::uint32_t>(q[l] >> 4) << l;
        std::memcpy(out, &dh, 2);
        std::memcpy(out + 2, &mh, 2);
        std::memcpy(out + 4, &qh, 4);
        for (int l = 0; l < 16; ++l)
            out[8 + l] = static_cast<std::byte>((q[l] & 0x0F) | ((q[l + 16] & 0x0F) << 4));
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
