#include "model/matrix.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"
#include "ravel/quant.hpp"

namespace ravel::detail {

DType storage_type_for(DType wanted, int cols) {
    if (dtype_block_elements(wanted) > 1 && cols % kQuantBlock != 0) return DType::F16;
    return wanted;
}

Result<Matrix> make_matrix_by_rows(int rows, int cols, DType type,
                                   const std::function<Result<void>(int, int, float*)>& fill) {
    type = storage_type_for(type, cols);
    Matrix m;
    m.type = type;
    m.rows = rows;
    m.cols = cols;
    auto row_bytes = dtype_bytes_for(type, static_cast<std::uint64_t>(cols));
    if (!row_bytes) {
        return make_error("cannot store a row of " + std::to_string(cols) + " values as " +
                          std::string(dtype_name(type)));
    }
    m.row_bytes = *row_bytes;
    if (!m.owned.resize(m.row_bytes * static_cast<std::size_t>(rows))) {
        return make_error("out of memory allocating a " + std::to_string(rows) + "x" +
                          std::to_string(cols) + " matrix");
    }
    m.data = m.owned.data();
    // About 1 MiB of fp32 rows at a time.
    const int step =
        std::max(1, static_cast<int>((1u << 18) / static_cast<unsigned>(std::max(cols, 1))));
    std::vector<float> buffer(static_cast<std::size_t>(std::min(step, rows)) * cols);
    for (int r0 = 0; r0 < rows; r0 += step) {
        const int n = std::min(step, rows - r0);
        if (auto ok = fill(r0, n, buffer.data()); !ok) return ok.error();
        for (int i = 0; i < n; ++i) {
            auto ok = quantize_row(type, buffer.data() + static_cast<std::size_t>(i) * cols,
                                   static_cast<std::size_t>(cols),
                                   m.owned.data() + (r0 + i) * m.row_bytes);
            if (!ok) return ok.error();
        }
    }
    return m;
}

Result<Matrix> make_matrix(const float* values, int rows, int cols, DType type) {
    return make_matrix_by_rows(rows, cols, type, [&](int r0, int n, float* out) -> Result<void> {
        std::memcpy(out, values + static_cast<std::size_t>(r0) * cols,
                    sizeof(float) * static_cast<std::size_t>(n) * cols);
        return {};
    });
}

Result<Matrix> borrow_matrix(const std::byte* data, std::size_t size, int rows, int cols,
                             DType type, std::shared_ptr<const void> keep_alive) {
    auto row_bytes = dtype_bytes_for(type, static_cast<std::uint64_t>(cols));
    if (!row_bytes || *row_bytes * static_cast<std::uint64_t>(rows) != size) {
        return make_error("a " + std::to_string(rows) + "x" + std::to_string(cols) + " " +
                          std::string(dtype_name(type)) + " matrix does not fit " +
                          std::to_string(size) + " bytes");
    }
    Matrix m;
    m.type = type;
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = *row_bytes;
    m.data = data;
    m.borrowed = std::move(keep_alive);
    return m;
}

void matrix_row_f32(const Matrix& w, int r, float* out) {
    (void)dequantize_row(w.type, w.row(r), static_cast<std::size_t>(w.cols), out);
}

void matmul(const Matrix& w, const float* x, int T, float* y, ThreadPool* pool) {
    const cpu::KernelTable& k = cpu::kernels();
    // Large T: packed GEMM (compute-bound). It declines only when its buffers can't be had,
    // and then the decode kernel below does the product a few tokens at a time.
    if (T > cpu::kSmallBatch && cpu::gemm_parallel(k, w, x, T, y, pool)) return;
    // Small T: each weight row is decoded once and used for every token (memory-bound).
    auto run = [&](int /*thread*/, std::int64_t r0, std::int64_t r1) {
        k.gemv(w, static_cast<int>(r0), static_cast<int>(r1), x, T, y);
    };
    if (pool == nullptr || pool->size() == 1 ||
        static_cast<std::int64_t>(w.rows) * w.cols < 32768) {
        run(0, 0, w.rows);
        return;
    }
    // Two grains per thread, taken on demand: a static split would make every product wait
    // for a thread that lost its core to another process (about 170 products per token), and
    // smaller grains cost more than they save, since each call quantizes the activations for
    // the integer kernels (measured: 1/16 of the rows per grain was 10% slower for q4_0).
    const std::int64_t per = 2 * static_cast<std::int64_t>(pool->size());
    const std::int64_t grain = std::max<std::int64_t>(16, (w.rows / per + 15) / 16 * 16);
    pool->parallel_for_dynamic(w.rows, grain, run);
}

}  // namespace ravel::detail
