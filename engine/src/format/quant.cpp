#include "ravel/quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "format/half_float.hpp"

namespace ravel {

namespace {

void put_f16(std::byte* p, float v) {
    const std::uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

// std::lround for the values a quantizer rounds (a few hundred at most): x + 0.5 is exact in
// double, so truncating it rounds half away from zero as lround does, without lround's library
// call (which was half of the time re-encoding a q6_K model as q8_0 took).
// Branch-free on the sign, which is as good as random in weights. A NaN (a broken source) gives
// 0, as lround's unspecified result did once cast to int8.
#if !defined(__SSE2__)
int round_half_away(float x) {
    const double d = x;
    return std::isnan(d) ? 0 : static_cast<int>(d + std::copysign(0.5, d));
}
#endif

// A q8_0 block: d = amax / 127 and q = x / d rounded half away from zero, the int kept modulo
// 256 as the cast to int8 keeps it. With SSE2, four values at a time in float only:
// truncation and the remainder y - trunc(y) are exact below 2^23 (y is at most 127 and a bit),
// and the remainder tells a half. A NaN or an infinity gives 0, as round_half_away's does (an
// infinity comes from a block so small that 1 / d overflows). 256 values took
// 0.75-0.8 us with the scalar loop (most of re-encoding a q6_K model as q8_0), 0.31 us with
// this, the same bytes (test_cpu_kernels checks them against std::round's rounding).
void quantize_q8_0(const float* x, std::byte* out) {
    auto* q = reinterpret_cast<std::int8_t*>(out + 2);
#if defined(__SSE2__)
    const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    __m128 lanes = _mm_setzero_ps();
    for (int i = 0; i < kQuantBlock; i += 4) {
        // MAXPS returns its second operand when the first is NaN: a NaN never enters.
        lanes = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + i), abs_mask), lanes);
    }
    alignas(16) float lane[4];
    _mm_store_ps(lane, lanes);
    const float amax = std::max(std::max(lane[0], lane[1]), std::max(lane[2], lane[3]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, d);
    const __m128 vid = _mm_set1_ps(id);
    const __m128 half = _mm_set1_ps(0.5f);
    const __m128 minus_half = _mm_set1_ps(-0.5f);
    const __m128 exact_below = _mm_set1_ps(0x1p23f);  // also false for NaN and infinities
    const __m128i low_byte = _mm_set1_epi32(0xff);
    __m128i ints[kQuantBlock / 4];
    for (int j = 0; j < kQuantBlock / 4; ++j) {
        __m128 y = _mm_mul_ps(_mm_loadu_ps(x + 4 * j), vid);
        y = _mm_and_ps(y, _mm_cmplt_ps(_mm_and_ps(y, abs_mask), exact_below));
        __m128i t = _mm_cvttps_epi32(y);
        const __m128 f = _mm_sub_ps(y, _mm_cvtepi32_ps(t));
        // A true comparison is all ones (-1): subtracting it adds one.
        t = _mm_sub_epi32(t, _mm_castps_si128(_mm_cmpge_ps(f, half)));
        t = _mm_add_epi32(t, _mm_castps_si128(_mm_cmple_ps(f, minus_half)));
        ints[j] = _mm_and_si128(t, low_byte);  // 0..255, so the packs below do not saturate
    }
    for (int j = 0; j < kQuantBlock / 4; j += 4) {
        const __m128i a = _mm_packs_epi32(ints[j], ints[j + 1]);
        const __m128i b = _mm_packs_epi32(ints[j + 2], ints[j + 3]);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 4 * j), _mm_packus_epi16(a, b));
    }
#else
    float amax = 0;
    for (int i = 0; i < kQuantBlock; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, d);
    for (int i = 0; i < kQuantBlock; ++i)
        q[i] = static_cast<std::int8_t>(round_half_away(x[i] * id));
#endif
}

void quantize_q4_0(const float* x, std::byte* out) {
    // The scale takes the sign of the largest-magnitude value so it maps exactly to -8.
    float amax = 0, max = 0;
    for (int i = 0; i < kQuantBlock; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, d);
    auto* qs = reinterpret_cast<std::uint8_t*>(out + 2);
    for (int j = 0; j < kQuantBlock / 2; ++j) {
        const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
        const int hi = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
        qs[j] = static_cast<std::uint8_t>(std::max(lo, 0) | (std::max(hi, 0) << 4));
    }
}

void quantize_q5_1(const float* x, std::byte* out) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < kQuantBlock; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
    }
    const float d = (hi - lo) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, d);
    put_f16(out + 2, lo);
    std::uint32_t qh = 0;
    auto* qs = reinterpret_cast<std::uint8_t*>(out + 8);
    for (int j = 0; j < kQuantBlock / 2; ++j) {
        const int a = std::clamp(static_cast<int>((x[j] - lo) * id + 0.5f), 0, 31);
        const int b = std::clamp(static_cast<int>((x[j + 16] - lo) * id + 0.5f), 0, 31);
        qs[j] = static_cast<std::uint8_t>((a & 0xf) | ((b & 0xf) << 4));
        qh |= static_cast<std::uint32_t>(a >> 4) << j;
        qh |= static_cast<std::uint32_t>(b >> 4) << (j + 16);
    }
    std::memcpy(out + 4, &qh, 4);
}

void dequantize_q8_0(const std::byte* in, float* y) {
    const float d = format::load_half(in);
    const auto* q = reinterpret_cast<const std::int8_t*>(in + 2);
    for (int i = 0; i < kQuantBlock; ++i) y[i] = d * q[i];
}

void dequantize_q4_0(const std::byte* in, float* y) {
    const float d = format::load_half(in);
    const auto* qs = reinterpret_cast<const std::uint8_t*>(in + 2);
    for (int j = 0; j < kQuantBlock / 2; ++j) {
        y[j] = d * static_cast<float>((qs[j] & 0xf) - 8);
        y[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
    }
}

void dequantize_q5_1(const std::byte* in, float* y) {
    const float d = format::load_half(in);
    const float m = format::load_half(in + 2);
    std::uint32_t qh;
    std::memcpy(&qh, in + 4, 4);
    const auto* qs = reinterpret_cast<const std::uint8_t*>(in + 8);
    for (int j = 0; j < kQuantBlock / 2; ++j) {
        const int a = (qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1u) << 4);
        const int b = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
        y[j] = d * static_cast<float>(a) + m;
        y[j + 16] = d * static_cast<float>(b) + m;
    }
}

}  // namespace

Result<void> quantize_row(DType type, const float* src, std::size_t n, std::byte* dst) {
    const std::size_t block = dtype_block_elements(type);
    if (n % block != 0) {
        return make_error(std::to_string(n) + " values do not fill whole " +
                          std::string(dtype_name(type)) + " blocks of " + std::to_string(block));
    }
    const std::size_t bb = dtype_block_bytes(type);
    switch (type) {
        case DType::F32:
            std::memcpy(dst, src, n * 4);
            return {};
        case DType::F16:
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint16_t h = f32_to_f16(src[i]);
                std::memcpy(dst + 2 * i, &h, 2);
            }
            return {};
        case DType::BF16:
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint16_t h = f32_to_bf16(src[i]);
                std::memcpy(dst + 2 * i, &h, 2);
            }
            return {};
        case DType::Q8_0:
            for (std::size_t b = 0; b < n / block; ++b)
                quantize_q8_0(src + b * block, dst + b * bb);
            return {};
        case DType::Q4_0:
            for (std::size_t b = 0; b < n / block; ++b)
                quantize_q4_0(src + b * block, dst + b * bb);
            return {};
        case DType::Q5_1:
            for (std::size_t b = 0; b < n / block; ++b)
                quantize_q5_1(src + b * block, dst + b * bb);
            return {};
    }
    return make_error("unknown weight type");
}

Result<void> dequantize_row(DType type, const std::byte* src, std::size_t n, float* dst) {
    const std::size_t block = dtype_block_elements(type);
    if (n % block != 0) {
        return make_error(std::to_string(n) + " values do not fill whole " +
                          std::string(dtype_name(type)) + " blocks of " + std::to_string(block));
    }
    const std::size_t bb = dtype_block_bytes(type);
    switch (type) {
        case DType::F32:
            std::memcpy(dst, src, n * 4);
            return {};
        case DType::F16:
            for (std::size_t i = 0; i < n; ++i) {
                std::uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = format::half_to_float(h);
            }
            return {};
        case DType::BF16:
            for (std::size_t i = 0; i < n; ++i) {
                std::uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = format::bfloat_to_float(h);
            }
            return {};
        case DType::Q8_0:
            for (std::size_t b = 0; b < n / block; ++b)
                dequantize_q8_0(src + b * bb, dst + b * block);
            return {};
        case DType::Q4_0:
            for (std::size_t b = 0; b < n / block; ++b)
                dequantize_q4_0(src + b * bb, dst + b * block);
            return {};
        case DType::Q5_1:
            for (std::size_t b = 0; b < n / block; ++b)
                dequantize_q5_1(src + b * bb, dst + b * block);
            return {};
    }
    return make_error("unknown weight type");
}

}  // namespace ravel
