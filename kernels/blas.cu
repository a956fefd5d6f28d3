// cuBLAS products and probes (see ravel_kernels/blas.hpp).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "ravel_kernels/blas.hpp"
#include "weight_format.cuh"

namespace ravel::kernels {

namespace {

// The few entry points used, looked up once.
struct BlasApi {
    decltype(&cublasCreate_v2) create = nullptr;
    decltype(&cublasDestroy_v2) destroy = nullptr;
    decltype(&cublasSetStream_v2) set_stream = nullptr;
    // Spelled out: the header overloads cublasGemmEx.
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void*, const void*, cudaDataType, int, const void*,
                              cudaDataType, int, const void*, void*, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
    std::string error;
};

const BlasApi& blas_api() {
    static const BlasApi api = [] {
        BlasApi a;
        void* lib = nullptr;
        std::string tried;
        std::string candidates[] = {"libcublas.so.13", "libcublas.so", "", ""};
        if (const char* root = std::getenv("CUDA_PATH")) {
            candidates[2] = std::string(root) + "/lib64/libcublas.so.13";
        }
        candidates[3] = "/usr/local/cuda/lib64/libcublas.so.13";
        for (const auto& name : candidates) {
            if (name.empty()) continue;
            lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (lib != nullptr) break;
            tried += (tried.empty() ? "" : ", ") + name;
        }
        if (lib == nullptr) {
            a.error = "cuBLAS could not be loaded (tried " + tried + ")";
            return a;
        }
        a.create = reinterpret_cast<decltype(a.create)>(dlsym(lib, "cublasCreate_v2"));
        a.destroy = reinterpret_cast<decltype(a.destroy)>(dlsym(lib, "cublasDestroy_v2"));
        a.set_stream = reinterpret_cast<decltype(a.set_stream)>(dlsym(lib, "cublasSetStream_v2"));
        a.gemm_ex = reinterpret_cast<decltype(a.gemm_ex)>(dlsym(lib, "cublasGemmEx"));
        if (!a.create || !a.destroy || !a.set_stream || !a.gemm_ex) {
            a.error = "the cuBLAS library found lacks cublasGemmEx or cublasCreate_v2";
        }
        return a;
    }();
    return api;
}

Status blas_status(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? 0 : kBlasErrorBase - static_cast<int>(s);
}

constexpr int kThreads = 256;
unsigned blocks_for(std::size_t n) {
    return static_cast<unsigned>(
        std::min<std::size_t>((n + kThreads - 1) / kThreads, 65535u * 16u));
}

// x (T rows, stride ldx) -> dense T x cols of f16 or bf16.
template <bool BF16>
__global__ void round_rows(const float* __restrict__ x, int ldx, int T, int cols, void* out) {
    const std::size_t n = static_cast<std::size_t>(T) * cols;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        const float v = x[(i / cols) * static_cast<std::size_t>(ldx) + i % cols];
        if constexpr (BF16) {
            static_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16_rn(v);
        } else {
            static_cast<__half*>(out)[i] = __float2half_rn(v);
        }
    }
}

// Rows [r0, r0 + n) of a quantized matrix -> dense n x cols f16.
__global__ void dequant_rows_f16(WeightView w, int r0, int n, __half* __restrict__ out) {
    const std::size_t total = static_cast<std::size_t>(n) * w.cols;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < total;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        const int r = static_cast<int>(i / w.cols), c = static_cast<int>(i % w.cols);
        const auto* row = static_cast<const std::uint8_t*>(w.data) +
                          static_cast<std::size_t>(r0 + r) * w.row_bytes;
        out[i] = __float2half_rn(dev::load_weight(w.type, row, c));
    }
}

// Deterministic pseudo-random fill in [-1, 1) for the probes (never zeros: they run faster).
__global__ void fill_random(__half* out, std::size_t n, std::uint32_t seed, bool bf16) {
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        std::uint32_t z = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
        z ^= z >> 15, z *= 2246822519u, z ^= z >> 13;
        const float v = static_cast<float>(z >> 8) * (2.0f / 16777216.0f) - 1.0f;
        if (bf16) {
            reinterpret_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16_rn(v);
        } else {
            out[i] = __float2half_rn(v);
        }
    }
}

std::size_t round_up(std::size_t n) {
    return (n + 255) & ~static_cast<std::size_t>(255);
}

bool is_quantized(WType t) {
    return t == WType::Q8_0 || t == WType::Q5_1 || t == WType::Q4_0;
}

// Quantized weights are dequantized in slices of at most this many bytes of f16.
constexpr std::size_t kWeightSliceBytes = 64u << 20;

}  // namespace

struct Blas {
    cublasHandle_t handle = nullptr;
};

bool blas_available(std::string& why) {
    const BlasApi& api = blas_api();
    if (api.error.empty()) return true;
    why = api.error;
    return false;
}

Blas* blas_create(Stream stream, std::string& why) {
    const BlasApi& api = blas_api();
    if (!api.error.empty()) {
        why = api.error;
        return nullptr;
    }
    cublasHandle_t h = nullptr;
    if (auto s = api.create(&h); s != CUBLAS_STATUS_SUCCESS) {
        why = "cublasCreate failed (status " + std::to_string(static_cast<int>(s)) + ")";
        return nullptr;
    }
    if (auto s = api.set_stream(h, static_cast<cudaStream_t>(stream)); s != CUBLAS_STATUS_SUCCESS) {
        api.destroy(h);
        why = "cublasSetStream failed (status " + std::to_string(static_cast<int>(s)) + ")";
        return nullptr;
    }
    auto* b = new Blas;
    b->handle = h;
    return b;
}

void blas_destroy(Blas* blas) {
    if (blas == nullptr) return;
    blas_api().destroy(blas->handle);
    delete blas;
}

std::size_t gemm_scratch_bytes(const WeightView& w, int T) {
    if (w.type == WType::F32) return 0;
    std::size_t bytes = round_up(static_cast<std::size_t>(T) * w.cols * 2);
    if (is_quantized(w.type)) {
        const std::size_t full = static_cast<std::size_t>(w.rows) * w.cols * 2;
        bytes += round_up(
            std::min(full, std::max(kWeightSliceBytes, static_cast<std::size_t>(w.cols) * 2)));
    }
    return bytes;
}

Status gemm(Blas* blas, const WeightView& w, const float* x, int ldx, int T, float* y, int ldy,
            bool accumulate, void* scratch, std::size_t scratch_bytes, Stream stream) {
    if (T <= 0 || w.rows == 0) return cudaSuccess;
    if (scratch_bytes < gemm_scratch_bytes(w, T)) return cudaErrorInvalidValue;
    const BlasApi& api = blas_api();
    auto s = static_cast<cudaStream_t>(stream);
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    // Column-major view: W is a (cols x rows) matrix with ld = cols, so Y^T = op_T(W) X^T.
    if (w.type == WType::F32) {
        return blas_status(api.gemm_ex(blas->handle, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, T, w.cols,
                                       &alpha, w.data, CUDA_R_32F, w.cols, x, CUDA_R_32F, ldx,
                                       &beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F,
                                       CUBLAS_GEMM_DEFAULT));
    }
    const bool bf16 = w.type == WType::BF16;
    void* x16 = scratch;
    const std::size_t n = static_cast<std::size_t>(T) * w.cols;
    if (bf16) {
        round_rows<true><<<blocks_for(n), kThreads, 0, s>>>(x, ldx, T, w.cols, x16);
    } else {
        round_rows<false><<<blocks_for(n), kThreads, 0, s>>>(x, ldx, T, w.cols, x16);
    }
    if (auto e = cudaGetLastError(); e != cudaSuccess) return e;
    const cudaDataType t16 = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    if (!is_quantized(w.type)) {
        return blas_status(api.gemm_ex(blas->handle, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, T, w.cols,
                                       &alpha, w.data, t16, w.cols, x16, t16, w.cols, &beta, y,
                                       CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    auto* w16 = reinterpret_cast<__half*>(static_cast<std::uint8_t*>(scratch) + round_up(n * 2));
    const std::size_t slice_bytes = scratch_bytes - round_up(n * 2);
    const int slice_rows = static_cast<int>(
        std::min<std::size_t>(w.rows, slice_bytes / (static_cast<std::size_t>(w.cols) * 2)));
    if (slice_rows < 1) return cudaErrorInvalidValue;
    for (int r0 = 0; r0 < w.rows; r0 += slice_rows) {
        const int rows = std::min(slice_rows, w.rows - r0);
        dequant_rows_f16<<<blocks_for(static_cast<std::size_t>(rows) * w.cols), kThreads, 0, s>>>(
            w, r0, rows, w16);
        if (auto e = cudaGetLastError(); e != cudaSuccess) return e;
        const Status st =
            blas_status(api.gemm_ex(blas->handle, CUBLAS_OP_T, CUBLAS_OP_N, rows, T, w.cols, &alpha,
                                    w16, CUDA_R_16F, w.cols, x16, CUDA_R_16F, w.cols, &beta, y + r0,
                                    CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        if (st != 0) return st;
    }
    return cudaSuccess;
}

Status probe_copy_bandwidth(std::size_t bytes, int iterations, Stream stream, double* gb_s) {
    auto s = static_cast<cudaStream_t>(stream);
    void* a = nullptr;
    void* b = nullptr;
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    Status st = cudaMalloc(&a, bytes);
    if (st == 0) st = cudaMalloc(&b, bytes);
    if (st == 0) st = cudaMemsetAsync(a, 0x5a, bytes, s);
    if (st == 0) st = cudaEventCreate(&e0);
    if (st == 0) st = cudaEventCreate(&e1);
    if (st == 0) st = cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s);  // warm-up
    if (st == 0) st = cudaEventRecord(e0, s);
    for (int i = 0; st == 0 && i < iterations; ++i) {
        st = cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice, s);
    }
    if (st == 0) st = cudaEventRecord(e1, s);
    if (st == 0) st = cudaEventSynchronize(e1);
    float ms = 0;
    if (st == 0) st = cudaEventElapsedTime(&ms, e0, e1);
    if (st == 0) *gb_s = 2.0 * static_cast<double>(bytes) * iterations / (ms * 1e-3) / 1e9;
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(b);
    return st;
}

Status probe_gemm_rate(Blas* blas, int m, int n, int k, bool bf16, int iterations, Stream stream,
                       double* tflop_s) {
    auto s = static_cast<cudaStream_t>(stream);
    const BlasApi& api = blas_api();
    const std::size_t na = static_cast<std::size_t>(m) * k, nb = static_cast<std::size_t>(k) * n,
                      nc = static_cast<std::size_t>(m) * n;
    void *A = nullptr, *B = nullptr, *Cm = nullptr;
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    Status st = cudaMalloc(&A, na * 2);
    if (st == 0) st = cudaMalloc(&B, nb * 2);
    if (st == 0) st = cudaMalloc(&Cm, nc * 4);
    if (st == 0) {
        fill_random<<<blocks_for(na), kThreads, 0, s>>>(static_cast<__half*>(A), na, 1u, bf16);
        fill_random<<<blocks_for(nb), kThreads, 0, s>>>(static_cast<__half*>(B), nb, 2u, bf16);
        st = cudaGetLastError();
    }
    if (st == 0) st = cudaEventCreate(&e0);
    if (st == 0) st = cudaEventCreate(&e1);
    const cudaDataType t = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    const float alpha = 1.0f, beta = 0.0f;
    auto run = [&] {
        return blas_status(api.gemm_ex(blas->handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, A,
                                       t, k, B, t, k, &beta, Cm, CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                                       CUBLAS_GEMM_DEFAULT));
    };
    for (int i = 0; st == 0 && i < 3; ++i) st = run();  // warm-up: heuristics, clocks
    if (st == 0) st = cudaEventRecord(e0, s);
    for (int i = 0; st == 0 && i < iterations; ++i) st = run();
    if (st == 0) st = cudaEventRecord(e1, s);
    if (st == 0) st = cudaEventSynchronize(e1);
    float ms = 0;
    if (st == 0) st = cudaEventElapsedTime(&ms, e0, e1);
    if (st == 0) *tflop_s = 2.0 * m * static_cast<double>(n) * k * iterations / (ms * 1e-3) / 1e12;
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(A);
    cudaFree(B);
    cudaFree(Cm);
    return st;
}

}  // namespace ravel::kernels
