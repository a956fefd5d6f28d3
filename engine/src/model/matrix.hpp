// A weight matrix of shape (rows, cols) in one of the storage types, used as y = W x.
// One parameterised product routine per operation; the element type is a property of the
// matrix, not a copy of the forward pass.
#pragma once

#include <cstdint>
#include <vector>

#include "model/aligned_buffer.hpp"
#include "ravel/result.hpp"
#include "ravel/tensor.hpp"

namespace ravel::detail {

struct Matrix {
    DType type = DType::F32;
    int rows = 0;
    int cols = 0;
    AlignedBuffer storage;

    bool empty() const { return rows == 0; }
    std::uint64_t bytes() const { return storage.size(); }
};

// Builds a matrix of `type` from row-major fp32 values (rows x cols).
Result<Matrix> make_matrix(const float* values, int rows, int cols, DType type);

// Y[t, r] = sum_c W[r, c] * X[t, c] for t < T. X is T x cols, Y is T x rows, both row-major.
void matmul(const Matrix& w, const float* x, int T, float* y);

}  // namespace ravel::detail
