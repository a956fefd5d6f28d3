// GPU discovery for the optional CUDA backend. Every function here exists in every build; a
// build without the backend answers with an error that says so.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"

namespace ravel {

struct GpuDevice {
    int index = 0;
    std::string name;
    int compute_major = 0, compute_minor = 0;
    int multiprocessors = 0;
    std::uint64_t total_bytes = 0;
    std::uint64_t free_bytes = 0;
};

// The CUDA devices this process can use, or why there are none: "this build has no CUDA
// backend", "no CUDA driver found ...", "no CUDA-capable GPU found".
Result<std::vector<GpuDevice>> cuda_devices();

// A device name as LoadOptions::device takes it: "cpu", "cuda" (= cuda:0) or "cuda:N".
struct DeviceChoice {
    bool cuda = false;
    int index = 0;
};
Result<DeviceChoice> parse_device(std::string_view name);

// The limits a GPU's speed is measured against, in one run: device-to-device copy rate
// (bytes read plus written) and a large f16 cublasGemmEx product with fp32 accumulation.
struct GpuProbe {
    double copy_gb_s = 0;
    double gemm_tflop_s = 0;
};
Result<GpuProbe> probe_gpu(int index);

}  // namespace ravel
