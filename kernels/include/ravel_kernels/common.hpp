// Types shared by every launcher header. Host-only: no CUDA and no engine types, so the engine's
// CUDA backend compiles with the host compiler. Streams travel as void* (a cudaStream_t).
#pragma once

#include <cstddef>

namespace ravel::kernels {

using Stream = void*;

// 0 on success, otherwise a CUDA runtime error code, or kBlasErrorBase - (cuBLAS status) for a
// failed cuBLAS call; error_string() names it.
using Status = int;
constexpr Status kBlasErrorBase = -1000;
const char* error_string(Status status);

// Storage types of weight matrices. The numbering is this library's own; the engine maps its
// DType onto it. Quantized types use GGUF's 32-value block layouts.
enum class WType : int { F32 = 0, F16, BF16, Q8_0, Q5_1, Q4_0 };

// A row-major (rows x cols) weight matrix in device memory, used as y = W x.
struct WeightView {
    WType type = WType::F32;
    int rows = 0;
    int cols = 0;
    std::size_t row_bytes = 0;
    const void* data = nullptr;
};

}  // namespace ravel::kernels
