#include "ravel/tensor.hpp"

#include <bit>
#include <cstring>
#include <limits>

#include "format/half_float.hpp"

namespace ravel {

namespace {
struct DTypeInfo {
    DType type;
    std::string_view name;
    std::size_t block_elements;
    std::size_t block_bytes;
};

// GGUF block layouts: q8_0 = f16 scale + 32 int8; q5_1 = f16 scale, f16 min, 32 high bits,
// 16 bytes of nibbles; q4_0 = f16 scale + 16 bytes of nibbles.
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "f32", 1, 4},     {DType::F16, "f16", 1, 2},     {DType::BF16, "bf16", 1, 2},
    {DType::Q8_0, "q8_0", 32, 34}, {DType::Q5_1, "q5_1", 32, 24}, {DType::Q4_0, "q4_0", 32, 18},
};

const DTypeInfo& info(DType type) {
    for (const auto& t : kTypes) {
        if (t.type == type) return t;
    }
    return kTypes[0];
}
}  // namespace

std::string_view dtype_name(DType type) {
    return info(type).name;
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& t : kTypes) {
        if (t.name == name) return t.type;
    }
    return std::nullopt;
}

std::size_t dtype_block_elements(DType type) {
    return info(type).block_elements;
}
std::size_t dtype_block_bytes(DType type) {
    return info(type).block_bytes;
}

DType embedding_type(DType matrix_type) {
    return matrix_type == DType::Q4_0 || matrix_type == DType::Q5_1 ? DType::Q8_0 : matrix_type;
}

std::optional<std::uint64_t> dtype_bytes_for(DType type, std::uint64_t elements) {
    const auto& t = info(type);
    if (elements % t.block_elements != 0) return std::nullopt;
    const std::uint64_t blocks = elements / t.block_elements;
    if (blocks > std::numeric_limits<std::uint64_t>::max() / t.block_bytes) return std::nullopt;
    return blocks * t.block_bytes;
}

std::int64_t TensorInfo::elements() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

std::string TensorInfo::shape_string() const {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    if (shape.size() == 1) s += ",";
    return s + ")";
}

float f16_to_f32(std::uint16_t h) {
    return format::half_to_float(h);
}

std::uint16_t f32_to_f16(float f) {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    const std::uint32_t sign = (x >> 16) & 0x8000u;
    const std::uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) {  // inf or nan
        return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    }
    if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow
    if (abs < 0x38800000u) {  // subnormal or zero in f16: round to nearest even
        const float magic = std::bit_cast<float>(0x3f000000u);  // 0.5 shifts into f16 denormals
        const float v = std::bit_cast<float>(abs) + magic;
        return static_cast<std::uint16_t>(sign | (std::bit_cast<std::uint32_t>(v) - 0x3f000000u));
    }
    std::uint32_t mant_odd = (abs >> 13) & 1u;
    std::uint32_t r = abs + 0xc8000fffu + mant_odd;  // rebias exponent and round to nearest even
    return static_cast<std::uint16_t>(sign | (r >> 13));
}

float bf16_to_f32(std::uint16_t b) {
    return format::bfloat_to_float(b);
}

std::uint16_t f32_to_bf16(float f) {
    std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return static_cast<std::uint16_t>(x >> 16);
}

}  // namespace ravel
