// Tensor descriptions shared by the file readers and the model builder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ravel {

// Element types of stored weights. The quantized types use GGUF's block layouts.
enum class DType : std::uint8_t { F32, F16, BF16, Q8_0, Q5_1, Q4_0 };

std::string_view dtype_name(DType type);
std::optional<DType> dtype_from_name(std::string_view name);
// Elements per block (1 for plain types) and bytes per block.
std::size_t dtype_block_elements(DType type);
std::size_t dtype_block_bytes(DType type);
// The type the embedding is kept in for matrices of `matrix_type`: q8_0 for the 4- and 5-bit
// types. A token's row enters the residual stream as it is, with ln0 folded in, where a
// matrix's rounding errors average out over each dot product.
DType embedding_type(DType matrix_type);

// One tensor inside a weight file. `offset` is relative to the start of the file.
struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;  // outermost first, as PyTorch prints it
    std::uint64_t offset = 0;
    std::uint64_t nbytes = 0;

    std::int64_t elements() const;
    std::string shape_string() const;  // "(768, 768)"
};

// Bytes needed for `elements` values of `type`; nullopt when elements do not fill whole blocks
// or the product would overflow.
std::optional<std::uint64_t> dtype_bytes_for(DType type, std::uint64_t elements);

// Half-precision conversions used by loaders and kernels.
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);
float bf16_to_f32(std::uint16_t b);
std::uint16_t f32_to_bf16(float f);

}  // namespace ravel
