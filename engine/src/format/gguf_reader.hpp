// GGUF (versions 2 and 3): a header of typed key/values and tensor descriptions, then the
// tensor data, each tensor at an aligned offset from the start of the data section.
// This layer parses the container only; gguf_weights.hpp turns it into a tensor directory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"
#include "ravel/tensor.hpp"

namespace ravel::format {

enum class GgufValueType : std::uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};

std::string_view gguf_value_type_name(GgufValueType type);

// One metadata value. Views point into the file bytes and live as long as they do.
struct GgufValue {
    GgufValueType type = GgufValueType::U8;
    // Scalars: the value, widened. `u` is set only for non-negative integers (and bools).
    std::optional<std::uint64_t> u;
    double f = 0;
    std::string_view str;  // strings
    // Arrays: element type and count; fixed-size elements as raw bytes, strings as views.
    GgufValueType elem_type = GgufValueType::U8;
    std::uint64_t count = 0;
    std::span<const std::byte> raw;
    std::vector<std::string_view> strings;

    // A short printable form for WeightFile::metadata(): strings as they are, numbers in
    // decimal, short arrays listed, long ones summarised.
    std::string to_text() const;
};

struct GgufFile {
    std::uint32_t version = 0;
    std::uint64_t alignment = 32;
    std::uint64_t data_start = 0;
    std::map<std::string, GgufValue, std::less<>> kv;
    // Names as stored, shapes in PyTorch order (ggml's ne reversed), offsets from the start of
    // the file, dtype as stored. Every tensor lies inside the file and is aligned.
    std::vector<TensorInfo> tensors;
    // Each tensor's ggml type id as stored. A q4_K / q5_K / q6_K tensor (see kquant.hpp) has
    // the dtype read_gguf re-encodes it to (q5_1, q5_1, q8_0), and its stored bytes until then.
    std::vector<std::uint32_t> ggml_types;

    const GgufValue* find(std::string_view key) const;
    // A scalar unsigned (or non-negative signed) integer, or nullopt.
    std::optional<std::uint64_t> get_uint(std::string_view key) const;
    std::optional<std::string_view> get_string(std::string_view key) const;
};

// ggml type ids of the types Ravel reads: F32 0, F16 1, Q4_0 2, Q5_1 7, Q8_0 8, BF16 30.
std::optional<DType> dtype_from_ggml(std::uint32_t ggml_type);
std::uint32_t ggml_type_of(DType type);
// "q4_K", "iq2_xs", ... for messages about types Ravel does not read.
std::string ggml_type_name(std::uint32_t ggml_type);

inline constexpr std::uint32_t kGgufMaxDims = 4;

Result<GgufFile> parse_gguf(std::span<const std::byte> file);

}  // namespace ravel::format
