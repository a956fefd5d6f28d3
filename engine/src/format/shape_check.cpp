#include "format/shape_check.hpp"

namespace ravel::format {

std::string shape_to_string(std::span<const std::int64_t> shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    if (shape.size() == 1) s += ",";
    return s + ")";
}

Result<std::uint64_t> checked_tensor_bytes(std::string_view tensor, DType type,
                                           std::span<const std::int64_t> shape,
                                           std::uint64_t max_bytes) {
    const std::string who = "tensor '" + std::string(tensor) + "'";
    if (shape.size() > kMaxTensorRank) {
        return make_error(who + " has " + std::to_string(shape.size()) + " dimensions; at most " +
                          std::to_string(kMaxTensorRank) + " are supported");
    }
    bool empty = false;
    for (auto d : shape) {
        if (d < 0) {
            return make_error(who + ": shape " + shape_to_string(shape) +
                              " has a negative dimension");
        }
        if (d == 0) empty = true;
    }
    if (empty) return std::uint64_t{0};

    const std::string what =
        ": shape " + shape_to_string(shape) + " of " + std::string(dtype_name(type));
    std::uint64_t elements = 1;
    for (auto d : shape) {
        if (__builtin_mul_overflow(elements, static_cast<std::uint64_t>(d), &elements)) {
            return make_error(who + what + " is too large (more than 2^64 elements)");
        }
    }
    const auto bytes = dtype_bytes_for(type, elements);
    if (!bytes) {
        return make_error(who + what + " is too large or does not fill whole blocks");
    }
    if (*bytes > max_bytes) {
        return make_error(who + what + " needs " + std::to_string(*bytes) +
                          " bytes, more than the " + std::to_string(max_bytes) +
                          " bytes available");
    }
    return *bytes;
}

}  // namespace ravel::format
