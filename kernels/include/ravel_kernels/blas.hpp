// Matrix products for sequence mode through cuBLAS (cublasGemmEx, fp32 accumulation), and the
// machine probes (copy bandwidth, GEMM rate). cuBLAS is opened at run time, so a binary built
// with CUDA starts where the library is absent; blas_create then says why.
#pragma once

#include <cstddef>
#include <string>

#include "ravel_kernels/common.hpp"

namespace ravel::kernels {

struct Blas;  // a cuBLAS handle bound to one stream

// Whether the cuBLAS library can be opened (false with `why` set).
bool blas_available(std::string& why);

// Null with `why` set when cuBLAS cannot be opened or started.
Blas* blas_create(Stream stream, std::string& why);
void blas_destroy(Blas* blas);

// Y[t * ldy + r] (+)= sum_c W[r, c] * X[t * ldx + c] for t < T.
//   f32 weights: fp32 GEMM on x as given.
//   f16 / bf16: x is rounded to the weight's type in `scratch`; products accumulate in fp32.
//   quantized:  x to f16, and the weights dequantized to f16 in `scratch`, rows at a time.
// scratch must hold at least gemm_scratch_bytes(w, T).
std::size_t gemm_scratch_bytes(const WeightView& w, int T);
Status gemm(Blas* blas, const WeightView& w, const float* x, int ldx, int T, float* y, int ldy,
            bool accumulate, void* scratch, std::size_t scratch_bytes, Stream stream);

// Device-to-device copy rate in GB/s, counting bytes read plus bytes written.
Status probe_copy_bandwidth(std::size_t bytes, int iterations, Stream stream, double* gb_s);
// cublasGemmEx rate for an m x n x k product on random f16 (or bf16) inputs, fp32 accumulation,
// in TFLOP/s.
Status probe_gemm_rate(Blas* blas, int m, int n, int k, bool bf16, int iterations, Stream stream,
                       double* tflop_s);

}  // namespace ravel::kernels
