// Drives the sequence-mode GEMM kernels: owns the packed-X, weight-staging and partial-sum
// buffers (kept per calling thread, so a prompt's many products allocate nothing after the
// first) and splits the work over the thread pool. The kernels themselves allocate nothing.
#include <algorithm>

#include "model/aligned_buffer.hpp"
#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/interleave.hpp"
#include "ravel/quant.hpp"

namespace ravel::detail::cpu {

namespace {

bool ensure(AlignedBuffer& b, std::size_t floats) {
    return b.size() >= floats * sizeof(float) || b.resize(floats * sizeof(float));
}

// Each thread restages its weights into its own buffer every column block. Buffers placed one
// after another let the first thread's stream prefetcher run on into the next thread's buffer
// and keep pulling its lines away: on a 2-core Zen 5 guest the thread owning the second buffer
// ran its share 1.5x slower, and 2 threads multiplied 3072 x 768 by 128 tokens at 200-210
// GFLOP/s against 270-330 with the buffers this far apart (see docs/cpu-backend.md).
constexpr std::size_t kStageGapBytes = std::size_t{64} << 10;
constexpr std::size_t kStageStrideFloats = gemm_stage_floats() + kStageGapBytes / sizeof(float);

struct GemmBuffers {
    AlignedBuffer xp;
    AlignedBuffer partial;  // all threads' partial sums, each thread in its own row range
    AlignedBuffer stages;   // thread i's staging buffer at i * kStageStrideFloats

    bool reserve(std::size_t xp_floats, std::size_t partial_floats, int threads) {
        return ensure(xp, xp_floats) && ensure(partial, partial_floats) &&
               ensure(stages, kStageStrideFloats * static_cast<std::size_t>(threads));
    }
    float* stage(int thread) {
        return stages.as<float>() + kStageStrideFloats * static_cast<std::size_t>(thread);
    }
};

// Packing is a transpose of X; it is worth splitting only when X is large.
constexpr std::size_t kParallelPackFloats = 1 << 16;

// Whether a product is worth handing to the pool's threads.
bool threaded_product(const Matrix& w, const ThreadPool* pool) {
    return pool != nullptr && pool->size() > 1 &&
           static_cast<std::int64_t>(w.rows) * w.cols >= 32768;
}

}  // namespace

bool gemm_parallel(const KernelTable& k, const Matrix& w, const float* x, int T, float* y,
                   ThreadPool* pool) {
    // Per calling thread; the lambdas below must use `buffers` (a plain reference), since
    // naming the thread_local inside them would reach each worker's own empty copy.
    thread_local GemmBuffers calling_thread_buffers;
    GemmBuffers& buffers = calling_thread_buffers;
    const bool threaded = threaded_product(w, pool);
    const int threads = threaded ? pool->size() : 1;
    const int nt = k.gemm_panel_tokens;
    const std::size_t xp_floats = gemm_packed_floats(T, w.cols, nt);
    // Thread row ranges start at multiples of kGemmRowBlock, so rows r0.. of any range map to
    // partial + r0 * panels * nt without overlapping another range's tiles.
    const std::size_t per_row = gemm_panels(T, nt) * static_cast<std::size_t>(nt);
    if (!buffers.reserve(xp_floats, gemm_partial_floats(w.rows, T, nt), threads)) return false;
    float* xp = buffers.xp.as<float>();
    float* partial = buffers.partial.as<float>();
    const auto panels = static_cast<std::int64_t>(gemm_panels(T, nt));
    auto pack = [&](int, std::int64_t p0, std::int64_t p1) {
        k.pack_x(x, T, w.cols, static_cast<int>(p0), static_cast<int>(p1), xp);
    };
    if (threaded && xp_floats >= kParallelPackFloats) {
        pool->parallel_for_dynamic(panels, 1, pack);
    } else {
        pack(0, 0, panels);
    }
    // Long rows of a plain type go in passes of kGemmKPass columns over all rows (partial sums
    // are kept per row, so a row's next pass may run on another thread). Block types keep one
    // pass: their staging decodes whole rows at a time.
    const int kpad = gemm_kpad(w.cols);
    const bool plain = w.type == DType::F32 || w.type == DType::F16 || w.type == DType::BF16;
    const int pass = plain ? kGemmKPass : kpad;
    for (int k0 = 0; k0 < kpad; k0 += pass) {
        const int k1 = std::min(kpad, k0 + pass);
        auto run = [&](int thread, std::int64_t r0, std::int64_t r1) {
            k.gemm(w, static_cast<int>(r0), static_cast<int>(r1), xp, T, y, buffers.stage(thread),
                   partial + static_cast<std::size_t>(r0) * per_row, k0, k1);
        };
        if (threaded) {
            // Row ranges claimed on demand, long ones first and single row tiles at the end: on
            // a busy machine one thread may lose its core for a while, and with a static split
            // (or long last blocks) the other would wait for it at the end of every product.
            pool->parallel_for_dynamic(w.rows, kGemmRowBlock, run);
        } else {
            run(0, 0, w.rows);
        }
    }
    return true;
}

bool quantized_tokens_in(AlignedBuffer& buffer, int capacity, int tokens, int cols,
                         QuantizedTokens& out) {
    if (cols % kQuantBlock != 0 || tokens > capacity) return false;
    const std::size_t values = static_cast<std::size_t>(capacity) * static_cast<std::size_t>(cols);
    const std::size_t q_bytes = (values + 63) / 64 * 64;
    const std::size_t scale_bytes = values / kQuantBlock * sizeof(float);
    const std::size_t bytes = q_bytes + 2 * scale_bytes;  // scales, then factor * sum(q)
    if (buffer.size() < bytes && !buffer.resize(bytes)) return false;
    out.tokens = tokens;
    out.cols = cols;
    out.q = buffer.as<std::int8_t>();
    out.d = reinterpret_cast<float*>(buffer.data() + q_bytes);
    out.bias = reinterpret_cast<std::int32_t*>(buffer.data() + q_bytes + scale_bytes);
    return true;
}

bool gemm_x16_parallel(const KernelTable& k, const Matrix& w, const float* x, int T, float* y,
                       ThreadPool* pool) {
    if (k.gemm_x16 == nullptr || !w.interleaved() || w.cols % kQuantBlock != 0) return false;
    thread_local AlignedBuffer calling_thread_buffer;
    const int padded = (T + kX16GemmTokens - 1) / kX16GemmTokens * kX16GemmTokens;
    const std::size_t blocks = static_cast<std::size_t>(w.cols / kQuantBlock);
    QuantizedTokens xq;
    if (!quantized_tokens_in(calling_thread_buffer, padded, T, w.cols, xq)) return false;
    // The padding tokens multiply to zero (and are not stored).
    for (int t = T; t < padded; ++t) {
        std::fill_n(xq.q + static_cast<std::size_t>(t) * w.cols, w.cols, std::int8_t{0});
        std::fill_n(xq.d + t * blocks, blocks, 0.0f);
        std::fill_n(xq.bias + t * blocks, blocks, 0);
    }
    const bool threaded = threaded_product(w, pool);
    auto quantize = [&](int, std::int64_t t0, std::int64_t t1) {
        k.quantize_tokens(w.type, x, static_cast<int>(t0), static_cast<int>(t1), xq);
    };
    auto run = [&](int, std::int64_t g0, std::int64_t g1) {
        k.gemm_x16(w, static_cast<int>(g0), static_cast<int>(g1), xq, y);
    };
    const std::int64_t groups = interleave_groups(w.rows);
    if (threaded) {
        pool->parallel_for_dynamic(T, 8, quantize);
        pool->parallel_for_dynamic(groups, 1, run);
    } else {
        quantize(0, 0, T);
        run(0, 0, groups);
    }
    return true;
}

bool gemm_rows(const KernelTable& k, const Matrix& w, int r0, int r1, const float* x, int T,
               float* y) {
    AlignedBuffer xp, stage, partial;
    const int nt = k.gemm_panel_tokens;
    if (!ensure(xp, gemm_packed_floats(T, w.cols, nt)) || !ensure(stage, gemm_stage_floats()) ||
        !ensure(partial, gemm_partial_floats(r1 - r0, T, nt))) {
        return false;
    }
    k.pack_x(x, T, w.cols, 0, static_cast<int>(gemm_panels(T, nt)), xp.as<float>());
    k.gemm(w, r0, r1, xp.as<float>(), T, y, stage.as<float>(), partial.as<float>(), 0,
           gemm_kpad(w.cols));
    return true;
}

}  // namespace ravel::detail::cpu
