// A weight matrix of shape (rows, cols) in one of the storage types, used as y = W x.
// The element type is a property of the matrix; every product goes through one parameterised
// kernel per operation, never a copy of the forward pass per type.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "model/aligned_buffer.hpp"
#include "ravel/result.hpp"
#include "ravel/tensor.hpp"

namespace ravel::detail {

class ThreadPool;
namespace cpu {
struct QuantizedTokens;
}
class WeightArena;

// How a matrix's bytes are arranged: row after row, or (q8_0 / q4_0 for the CPU decode
// kernels) in groups of 16 interleaved rows, described in model/interleave.hpp.
enum class MatrixLayout : std::uint8_t { Rows, Interleaved16 };

struct Matrix {
    DType type = DType::F32;
    MatrixLayout layout = MatrixLayout::Rows;
    int rows = 0;
    int cols = 0;
    std::size_t row_bytes = 0;             // bytes of one row in the row layout (either layout)
    std::size_t group_bytes = 0;           // Interleaved16: bytes of one group of 16 rows
    const std::byte* data = nullptr;       // bytes() bytes
    AlignedBuffer owned;                   // when the matrix owns its bytes
    std::shared_ptr<const void> borrowed;  // keeps a mapped file or an arena chunk alive

    Matrix() = default;
    Matrix(Matrix&&) noexcept = default;
    Matrix& operator=(Matrix&&) noexcept = default;
    Matrix(const Matrix&) = delete;
    Matrix& operator=(const Matrix&) = delete;

    bool empty() const { return rows == 0; }
    bool interleaved() const { return layout == MatrixLayout::Interleaved16; }
    // Bytes the matrix occupies (what a product reads).
    std::uint64_t bytes() const {
        return interleaved() ? static_cast<std::uint64_t>((rows + 15) / 16) * group_bytes
                             : static_cast<std::uint64_t>(rows) * row_bytes;
    }
    // Row r of a row-layout matrix.
    const std::byte* row(int r) const { return data + static_cast<std::size_t>(r) * row_bytes; }
};

// The type a matrix of `cols` columns is actually stored in when `wanted` is asked for:
// block-quantized types need whole 32-value blocks per row, otherwise f16 is used.
DType storage_type_for(DType wanted, int cols);

// Gives m (shape, type and layout set) m.bytes() bytes of storage at m.data: from `arena` when
// given (kept alive by m.borrowed), else a buffer of its own. Returns it, writable.
Result<std::byte*> allocate_matrix_storage(Matrix& m, WeightArena* arena);

// Builds a matrix from row-major fp32 values (rows x cols), converting to `type`. Its bytes
// come from `arena` when given (a model's weights), else from a buffer of its own.
Result<Matrix> make_matrix(const float* values, int rows, int cols, DType type,
                           WeightArena* arena = nullptr, MatrixLayout layout = MatrixLayout::Rows);
// Builds a matrix a few rows at a time: fill(row0, n, out) writes n rows of fp32. Only small
// fp32 buffers are ever held, so converting a large tensor does not double peak memory. Chunks
// of rows are converted by up to 16 threads at once: `fill` is called concurrently, for
// disjoint rows, and must be safe for that.
// `layout` Interleaved16 applies to q8_0 / q4_0 only (other types keep rows).
Result<Matrix> make_matrix_by_rows(int rows, int cols, DType type,
                                   const std::function<Result<void>(int, int, float*)>& fill,
                                   WeightArena* arena = nullptr,
                                   MatrixLayout layout = MatrixLayout::Rows);
// Wraps bytes that already hold the matrix in `type` (e.g. inside a mapped GGUF file).
Result<Matrix> borrow_matrix(const std::byte* data, std::size_t size, int rows, int cols,
                             DType type, std::shared_ptr<const void> keep_alive);

// Y[t, r] = sum_c W[r, c] * X[t, c] for t < T. X is T x cols, Y is T x rows, both row-major.
// Runs on `pool` when given.
void matmul(const Matrix& w, const float* x, int T, float* y, ThreadPool* pool = nullptr);

// One product of a group: y = act(W x) over the group's T tokens, `act` a KernelTable
// activation (-1 for none), x and y laid out as for matmul.
// When decoding (T <= kSmallBatch), a product can hand its output to the next one already
// quantized: `yq` receives y's rows quantized for weights of `yq_type` as each grain finishes
// them, and the next product takes them as `xq` (w interleaved, KernelTable::gemv_quantized
// set). Its threads then need not each quantize and read all of the float output that the
// other threads wrote. Both are ignored for more tokens; x and y are always used.
struct Product {
    const Matrix* w = nullptr;
    const float* x = nullptr;
    float* y = nullptr;
    int act = -1;
    const cpu::QuantizedTokens* xq = nullptr;
    cpu::QuantizedTokens* yq = nullptr;
    DType yq_type = DType::Q8_0;
};

// Independent products in one parallel region. For a few tokens (decoding) each product's rows
// are cut into grains and all grains are shared among the threads, so a layer's small products
// pay one hand-off instead of one each and no thread idles while another finishes a small
// product. For more tokens each product runs as matmul() does. Put large products first: the
// grains taken last (and stolen) should be the small ones.
void matmul_group(std::span<const Product> products, int T, ThreadPool* pool);

// Dequantizes row r of w into `out` (cols floats).
void matrix_row_f32(const Matrix& w, int r, float* out);

}  // namespace ravel::detail
