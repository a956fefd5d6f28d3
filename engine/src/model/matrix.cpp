#include "model/matrix.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "format/parallel_items.hpp"

#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/interleave.hpp"
#include "model/weight_arena.hpp"
#include "ravel/quant.hpp"

namespace ravel::detail {

DType storage_type_for(DType wanted, int cols) {
    if (dtype_block_elements(wanted) > 1 && cols % kQuantBlock != 0) return DType::F16;
    return wanted;
}

Result<std::byte*> allocate_matrix_storage(Matrix& m, WeightArena* arena) {
    const std::size_t bytes = static_cast<std::size_t>(m.bytes());
    std::byte* storage = nullptr;
    if (arena != nullptr) {
        auto block = arena->allocate(bytes);
        if (!block) return block.error();
        storage = block->data;
        m.borrowed = std::move(block->keep_alive);
    } else {
        if (!m.owned.resize(bytes)) {
            return make_error("out of memory allocating a " + std::to_string(m.rows) + "x" +
                              std::to_string(m.cols) + " matrix");
        }
        storage = m.owned.data();
    }
    m.data = storage;
    return storage;
}

Result<Matrix> make_matrix_by_rows(int rows, int cols, DType type,
                                   const std::function<Result<void>(int, int, float*)>& fill,
                                   WeightArena* arena, MatrixLayout layout) {
    type = storage_type_for(type, cols);
    if (!interleavable(type)) layout = MatrixLayout::Rows;
    Matrix m;
    m.type = type;
    m.layout = layout;
    m.rows = rows;
    m.cols = cols;
    auto row_bytes = dtype_bytes_for(type, static_cast<std::uint64_t>(cols));
    if (!row_bytes) {
        return make_error("cannot store a row of " + std::to_string(cols) + " values as " +
                          std::string(dtype_name(type)));
    }
    m.row_bytes = *row_bytes;
    const bool interleave = layout == MatrixLayout::Interleaved16;
    if (interleave) m.group_bytes = interleave_group_bytes(type, cols / kQuantBlock);
    auto allocated = allocate_matrix_storage(m, arena);
    if (!allocated) return allocated.error();
    std::byte* storage = *allocated;
    // About 1 MiB of fp32 rows at a time (whole groups of rows when interleaving): each chunk
    // is converted on its own, into its own part of storage, so chunks are shared by a few
    // threads. Converting while loading (an f16 file as q4_0, say) takes seconds per GB.
    int step = std::max(1, static_cast<int>((1u << 18) / static_cast<unsigned>(std::max(cols, 1))));
    if (interleave) step = (step + kInterleaveRows - 1) / kInterleaveRows * kInterleaveRows;
    const auto chunks = static_cast<std::size_t>((rows + step - 1) / step);
    // Per worker: fp32 rows, and for interleaving the quantized rows before they are rearranged.
    const std::size_t workers = format::item_workers(chunks);
    std::vector<std::vector<float>> buffers(workers);
    std::vector<std::vector<std::byte>> row_layouts(workers);
    auto converted =
        format::for_each_item(chunks, workers, [&](std::size_t worker, std::size_t chunk) {
            std::vector<float>& buffer = buffers[worker];
            std::vector<std::byte>& row_layout = row_layouts[worker];
            buffer.resize(static_cast<std::size_t>(std::min(step, rows)) * cols);
            if (interleave)
                row_layout.resize(static_cast<std::size_t>(std::min(step, rows)) * m.row_bytes);
            const int r0 = static_cast<int>(chunk) * step;
            const int n = std::min(step, rows - r0);
            if (auto ok = fill(r0, n, buffer.data()); !ok) return ok;
            std::byte* out = interleave ? row_layout.data() : storage + r0 * m.row_bytes;
            for (int i = 0; i < n; ++i) {
                auto ok = quantize_row(type, buffer.data() + static_cast<std::size_t>(i) * cols,
                                       static_cast<std::size_t>(cols), out + i * m.row_bytes);
                if (!ok) return ok;
            }
            if (!interleave) return Result<void>();
            for (int g = 0; g * kInterleaveRows < n; ++g) {
                const int first = g * kInterleaveRows;
                interleave_group(
                    type, cols / kQuantBlock, out + first * m.row_bytes, m.row_bytes,
                    std::min(kInterleaveRows, n - first),
                    storage +
                        static_cast<std::size_t>((r0 + first) / kInterleaveRows) * m.group_bytes);
            }
            return Result<void>();
        });
    if (!converted) return converted.error();
    return m;
}

Result<Matrix> make_matrix(const float* values, int rows, int cols, DType type, WeightArena* arena,
                           MatrixLayout layout) {
    return make_matrix_by_rows(
        rows, cols, type,
        [&](int r0, int n, float* out) -> Result<void> {
            std::memcpy(out, values + static_cast<std::size_t>(r0) * cols,
                        sizeof(float) * static_cast<std::size_t>(n) * cols);
            return {};
        },
        arena, layout);
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
    if (!w.interleaved()) {
        (void)dequantize_row(w.type, w.row(r), static_cast<std::size_t>(w.cols), out);
        return;
    }
    std::byte block[34];
    for (int b = 0; b < w.cols / kQuantBlock; ++b) {
        deinterleave_block(w, r, b, block);
        (void)dequantize_row(w.type, block, kQuantBlock, out + b * kQuantBlock);
    }
}

namespace {
constexpr std::size_t kDecodeGrainBytes = 32 * 1024;
}  // namespace

void matmul(const Matrix& w, const float* x, int T, float* y, ThreadPool* pool) {
    const cpu::KernelTable& k = cpu::kernels();
    // Large T: packed GEMM (compute-bound); interleaved q8_0 / q4_0 through the integer
    // kernels where the table has them. The GEMM declines only when its buffers can't be
    // had, and then the decode kernel below does the product a few tokens at a time.
    if (T > cpu::kSmallBatch &&
        (cpu::gemm_x16_parallel(k, w, x, T, y, pool) || cpu::gemm_parallel(k, w, x, T, y, pool))) {
        return;
    }
    // Small T: each weight row is decoded once and used for every token (memory-bound).
    auto run = [&](int /*thread*/, std::int64_t r0, std::int64_t r1) {
        k.gemv(w, static_cast<int>(r0), static_cast<int>(r1), x, T, y);
    };
    if (pool == nullptr || pool->size() == 1 ||
        static_cast<std::int64_t>(w.rows) * w.cols < 32768) {
        run(0, 0, w.rows);
        return;
    }
    // Grains of about kDecodeGrainBytes, taken on demand: a static split would make every
    // product wait for a thread that lost its core to another process (about 70 regions per
    // token), and larger grains leave one thread idle at the end of a region while the other
    // finishes its last grain. (Each thread quantizes the activations once per region, see
    // activation_cache.hpp, so a grain costs only its hand-off.) v7 0.1B q4_0, 2 threads:
    // two grains per thread (at most 1 MiB) left a thread waiting 195 us per token at region
    // ends, 32 KiB grains 56-61 us.
    const std::int64_t byte_rows =
        static_cast<std::int64_t>(kDecodeGrainBytes / std::max<std::size_t>(w.row_bytes, 1));
    const std::int64_t grain = std::max<std::int64_t>(16, (byte_rows + 15) / 16 * 16);
    pool->parallel_for_dynamic(w.rows, grain, run);
}

namespace {
// A grain of a group: rows [r0, r1) of one product.
struct GroupTask {
    int product;
    int r0;
    int r1;
};
// As kDecodeGrainBytes; the groups hold float LoRA matrices as well, whose kernels take a few
// rows per call (measured with 32 KiB: no better).
constexpr std::uint64_t kGroupGrainBytes = 64 * 1024;
}  // namespace

void matmul_group(std::span<const Product> products, int T, ThreadPool* pool) {
    const cpu::KernelTable& k = cpu::kernels();
    auto apply_activation = [&](const Product& p, int r0, int r1) {
        if (p.act < 0) return;
        for (int t = 0; t < T; ++t)
            k.activate(p.act, p.y + static_cast<std::size_t>(t) * p.w->rows + r0, nullptr, r1 - r0);
    };
    // Rows [r0, r1) of a decoding product (whole quantization blocks where y is quantized).
    auto decode_rows = [&](const Product& p, int r0, int r1) {
        if (p.xq != nullptr && k.gemv_quantized != nullptr) {
            k.gemv_quantized(*p.w, r0, r1, *p.xq, p.y);
        } else {
            k.gemv(*p.w, r0, r1, p.x, T, p.y);
        }
        apply_activation(p, r0, r1);
        if (p.yq != nullptr && k.quantize_columns != nullptr)
            k.quantize_columns(p.yq_type, p.y, r0, r1, *p.yq);
    };
    std::uint64_t total = 0;
    for (const Product& p : products) total += p.w->bytes();
    if (T <= cpu::kSmallBatch &&
        (pool == nullptr || pool->size() == 1 || total < 2 * kGroupGrainBytes)) {
        for (const Product& p : products) decode_rows(p, 0, p.w->rows);
        return;
    }
    if (T > cpu::kSmallBatch) {
        for (const Product& p : products) {
            matmul(*p.w, p.x, T, p.y, pool);
            if (p.act < 0 || pool == nullptr) {
                apply_activation(p, 0, p.w->rows);
                continue;
            }
            // Token rows of the product's output, a few at a time.
            const std::int64_t grain = std::max<std::int64_t>(1, 8192 / std::max(1, p.w->rows));
            pool->parallel_for_dynamic(T, grain, [&](int, std::int64_t t0, std::int64_t t1) {
                k.activate(p.act, p.y + static_cast<std::size_t>(t0) * p.w->rows, nullptr,
                           static_cast<int>((t1 - t0) * p.w->rows));
            });
        }
        return;
    }
    // Each product cut into whole grains of about kGroupGrainBytes: whole groups of 16 rows, or
    // of 32 where the output is quantized in blocks of 32.
    const std::uint64_t target = kGroupGrainBytes;
    // The caller's list (a thread_local named inside the lambda would be each worker's own).
    thread_local std::vector<GroupTask> task_buffer;
    std::vector<GroupTask>& tasks = task_buffer;
    tasks.clear();
    for (std::size_t i = 0; i < products.size(); ++i) {
        const Matrix& w = *products[i].w;
        const std::uint64_t grains = std::max<std::uint64_t>(1, (w.bytes() + target / 2) / target);
        const std::uint64_t unit = products[i].yq != nullptr ? kQuantBlock : 16;
        const int step = static_cast<int>(
            ((static_cast<std::uint64_t>(w.rows) + grains - 1) / grains + unit - 1) / unit * unit);
        for (int r = 0; r < w.rows; r += step)
            tasks.push_back({static_cast<int>(i), r, std::min(w.rows, r + step)});
    }
    pool->parallel_for_dynamic(static_cast<std::int64_t>(tasks.size()), 1,
                               [&](int /*thread*/, std::int64_t i0, std::int64_t i1) {
                                   for (std::int64_t i = i0; i < i1; ++i) {
                                       const GroupTask& task = tasks[static_cast<std::size_t>(i)];
                                       decode_rows(products[static_cast<std::size_t>(task.product)],
                                                   task.r0, task.r1);
                                   }
                               });
}

}  // namespace ravel::detail
