// Kernel-level throughput of the CPU matrix kernels (not a test): times matmul() on random
// weights of one type and shape, so a kernel change can be judged apart from the rest of the
// forward pass. Reports GFLOP/s (and weight GB/s) per run; quote the median of several.
//   bench_cpu_kernels [--type f32|f16|bf16|q8_0|q5_1|q4_0] [--rows R] [--cols C] [--tokens T]
//                     [--threads N] [--reps K] [--copies M] [--layout rows|x16|auto]
// --copies runs one product on each of M copies of the matrix in turn (one timed rep covers
// all of them), as a forward pass runs many small products whose weights are not in cache.
// --layout picks how q8_0 / q4_0 are stored: rows, interleaved (x16), or auto (default) as a
// model load on this CPU would.
// --paired-read 1 follows each timed rep with a pass of the bandwidth probe's read kernel over
// as many bytes, and reports the median ratio of the two rates: on a machine whose memory
// other tenants share, rates measured minutes (or seconds) apart differ by 2x, rates measured
// back to back see the same neighbours.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "model/cpu/kernels.hpp"
#include "model/cpu/read_pass.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/matrix.hpp"
#include "model/weight_arena.hpp"

namespace {
ravel::DType parse_type(const std::string& s) {
    using ravel::DType;
    if (s == "f16") return DType::F16;
    if (s == "bf16") return DType::BF16;
    if (s == "q8_0") return DType::Q8_0;
    if (s == "q5_1") return DType::Q5_1;
    if (s == "q4_0") return DType::Q4_0;
    return DType::F32;
}
}  // namespace

int main(int argc, char** argv) {
    std::string type_name = "f32";
    int rows = 3072, cols = 768, tokens = 128, threads = 1, reps = 20, copies = 1;
    bool paired_read = false;
    std::string layout_name = "auto";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        const char* v = argv[i + 1];
        if (a == "--type")
            type_name = v;
        else if (a == "--rows")
            rows = std::atoi(v);
        else if (a == "--cols")
            cols = std::atoi(v);
        else if (a == "--tokens")
            tokens = std::atoi(v);
        else if (a == "--threads")
            threads = std::atoi(v);
        else if (a == "--reps")
            reps = std::atoi(v);
        else if (a == "--copies")
            copies = std::max(1, std::atoi(v));
        else if (a == "--layout")
            layout_name = v;
        else if (a == "--paired-read")
            paired_read = std::atoi(v) != 0;
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::vector<float> w(static_cast<std::size_t>(rows) * cols);
    for (float& f : w) f = nd(rng);
    // In huge-page-backed memory, as a loaded model's weights are.
    ravel::detail::WeightArena arena;
    using ravel::detail::MatrixLayout;
    const bool x16 = layout_name == "x16" ||
                     (layout_name == "auto" && ravel::detail::cpu::kernels().interleave_quantized);
    const MatrixLayout layout = x16 ? MatrixLayout::Interleaved16 : MatrixLayout::Rows;
    std::vector<ravel::detail::Matrix> matrices;
    for (int i = 0; i < copies; ++i) {
        auto m =
            ravel::detail::make_matrix(w.data(), rows, cols, parse_type(type_name), &arena, layout);
        if (!m) {
            std::fprintf(stderr, "%s\n", m.error().message.c_str());
            return 1;
        }
        matrices.push_back(std::move(*m));
    }
    const ravel::detail::Matrix* m = &matrices[0];
    std::vector<float> x(static_cast<std::size_t>(tokens) * cols),
        y(static_cast<std::size_t>(tokens) * rows);
    for (float& f : x) f = nd(rng);
    ravel::detail::ThreadPool pool(threads);
    // CPU time of the process over the threads as well as wall time: on a shared machine the
    // wall time includes waiting for a core, the CPU time (pool threads spin while waiting)
    // does not.
    auto cpu_now = [] {
        timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    };
    const std::size_t weight_bytes = m->bytes() * static_cast<std::size_t>(copies);
    float* read_buffer = nullptr;
    ravel::detail::ArenaBlock read_block;
    if (paired_read) {
        auto block = ravel::detail::allocate_huge(weight_bytes);
        if (!block) {
            std::fprintf(stderr, "%s\n", block.error().message.c_str());
            return 1;
        }
        read_block = std::move(*block);
        read_buffer = reinterpret_cast<float*>(read_block.data);
        std::memset(read_buffer, 0, weight_bytes);
    }
    std::vector<float> read_sums(static_cast<std::size_t>(pool.size()));
    std::vector<double> secs, cpu_secs, read_rates, ratios;
    for (int r = 0; r < reps + 2; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_now();
        for (const auto& copy : matrices)
            ravel::detail::matmul(copy, x.data(), tokens, y.data(), &pool);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r >= 2) {
            secs.push_back(s);
            cpu_secs.push_back((cpu_now() - c0) / pool.size());
        }
        if (paired_read) {
            // On the product's own pool, so no second pool's threads spin meanwhile, and split
            // on demand as the product is.
            const double rs = ravel::detail::read_pass(
                read_buffer, weight_bytes / sizeof(float), ravel::detail::cpu::kDecodePrefetchBytes,
                pool, read_sums, ravel::detail::PassSplit::OnDemand);
            if (r >= 2) {
                read_rates.push_back(static_cast<double>(weight_bytes) / rs / 1e9);
                ratios.push_back(rs / s);
            }
        }
    }
    std::sort(secs.begin(), secs.end());
    std::sort(cpu_secs.begin(), cpu_secs.end());
    const double cpu_med = cpu_secs[cpu_secs.size() / 2];
    const double med = secs[secs.size() / 2];
    const double flops = 2.0 * rows * cols * tokens * copies;
    const double bytes = static_cast<double>(m->bytes()) * copies;
    std::printf(
        "%s %s%s %dx%d x%d T=%d threads=%d: median %.3f ms, %.1f GFLOP/s, %.2f GB/s of weights; "
        "per CPU-second: %.1f GFLOP/s, %.2f GB/s\n",
        ravel::detail::cpu::kernels().isa, type_name.c_str(), m->interleaved() ? "-x16" : "", rows,
        cols, copies, tokens, pool.size(), med * 1e3, flops / med / 1e9, bytes / med / 1e9,
        flops / cpu_med / 1e9, bytes / cpu_med / 1e9);
    if (paired_read) {
        std::sort(read_rates.begin(), read_rates.end());
        std::sort(ratios.begin(), ratios.end());
        std::printf(
            "paired read passes: median %.2f GB/s; kernel rate / read rate: median %.2f "
            "(quartiles %.2f-%.2f)\n",
            read_rates[read_rates.size() / 2], ratios[ratios.size() / 2], ratios[ratios.size() / 4],
            ratios[ratios.size() * 3 / 4]);
    }
    return 0;
}
