// Where the model builder gets tensor values from: a model file, or random values for
// synthetic benchmark models. Names are BlinkDL's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ravel/result.hpp"
#include "ravel/tensor.hpp"

namespace ravel::detail {

class WeightSource {
  public:
    virtual ~WeightSource() = default;
    // Rows [row0, row0 + n) of a tensor seen as a (rows, cols) matrix, as fp32 into `out`
    // (n * cols floats). Shapes were already checked against the file by detect_config. Called
    // from several threads at once while a matrix is converted (make_matrix_by_rows).
    virtual Result<void> read_rows(const std::string& name, std::int64_t cols, std::int64_t row0,
                                   std::int64_t n, float* out) const = 0;
    // A whole tensor of `elements` values as fp32.
    Result<std::vector<float>> read_f32(const std::string& name, std::int64_t elements) const {
        std::vector<float> v(static_cast<std::size_t>(elements));
        if (auto ok = read_rows(name, elements, 0, 1, v.data()); !ok) return ok.error();
        return v;
    }
    // The stored bytes when the tensor is kept in exactly `type`, so a matrix can use them in
    // place; empty when a conversion is needed.
    virtual std::span<const std::byte> stored_as(const std::string& /*name*/,
                                                 DType /*type*/) const {
        return {};
    }
    // Tells the source that bytes it returned from stored_as() were copied and will not be
    // read again, so it may drop them from memory where that is safe.
    virtual void release(std::span<const std::byte> /*bytes*/) const {}
    // Tells the source that a tensor was converted and will not be read again, so the memory
    // it was read from may be dropped where that is safe (the pages of a mapped file).
    virtual void release_tensor(const std::string& /*name*/) const {}
    // Tells the source that what it handed out so far was copied, so memory it maps may be
    // unmapped where it can be mapped again on a later read. Vectors and LoRAs are read a few
    // KiB at a time, but a file mapping is filled around each read (in 2 MiB folios where the
    // page cache holds them), so without this the pages around every layer's small tensors
    // stayed resident until the end of the load.
    virtual void release_mapped() const {}
    // Owner of the bytes returned by stored_as().
    virtual std::shared_ptr<const void> keep_alive() const { return nullptr; }
    // True when emb.weight already has blocks.0.ln0 applied (Ravel's converted files).
    virtual bool embedding_has_ln0() const { return false; }
    // The type the source holds most of its matrix elements in: what "as stored" loads to.
    virtual DType stored_matrix_type() const { return DType::F32; }
    // The type one tensor is held in, where the source has one.
    virtual std::optional<DType> stored_type(const std::string& /*name*/) const {
        return std::nullopt;
    }
};

}  // namespace ravel::detail
