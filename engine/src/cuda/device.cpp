// Device choice, discovery and placement. Compiled in every build; the CUDA parts only when
// the backend is (RAVEL_HAVE_CUDA), so a CPU-only build answers with a clear reason.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>

#include "cuda/placement.hpp"
#include "ravel/device.hpp"

#if RAVEL_HAVE_CUDA
#include "cuda/cuda_model.hpp"
#include "cuda/cuda_session.hpp"
#include "ravel_kernels/blas.hpp"
#include "ravel_kernels/runtime.hpp"
#include "ravel_kernels/wkv5.hpp"
#include "ravel_kernels/wkv7.hpp"
#endif

namespace ravel {

void Model::set_placement(std::string device, std::string note,
                          std::shared_ptr<const detail::CudaModel> cuda) {
    device_ = std::move(device);
    device_note_ = std::move(note);
    cuda_ = std::move(cuda);
}

Result<DeviceChoice> parse_device(std::string_view name) {
    if (name.empty() || name == "cpu") return DeviceChoice{};
    if (name == "cuda" || name == "gpu") return DeviceChoice{true, 0};
    if (name.rfind("cuda:", 0) == 0) {
        const std::string_view n = name.substr(5);
        int index = -1;
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), index);
        if (ec == std::errc() && end == n.data() + n.size() && index >= 0 && index < 1024) {
            return DeviceChoice{true, index};
        }
    }
    return make_error("unknown device '" + std::string(name) + "' (use cpu, cuda or cuda:N)");
}

#if RAVEL_HAVE_CUDA

Result<std::vector<GpuDevice>> cuda_devices() {
    std::string why;
    const int n = kernels::device_count(why);
    if (n <= 0) return make_error(why);
    std::vector<GpuDevice> out;
    for (int i = 0; i < n; ++i) {
        kernels::DeviceProps p;
        if (auto s = kernels::device_props(i, p); s != 0) {
            kernels::last_error();
            return make_error("cannot read the properties of GPU " + std::to_string(i) + ": " +
                              kernels::error_string(s));
        }
        GpuDevice d;
        d.index = i;
        d.name = p.name;
        d.compute_major = p.major;
        d.compute_minor = p.minor;
        d.multiprocessors = p.multiprocessors;
        d.total_bytes = p.total_bytes;
        d.free_bytes = p.free_bytes;
        out.push_back(std::move(d));
    }
    return out;
}

Result<GpuProbe> probe_gpu(int index) {
    auto devices = cuda_devices();
    if (!devices) return devices.error();
    if (index < 0 || index >= static_cast<int>(devices->size())) {
        return make_error("there is no GPU " + std::to_string(index));
    }
    kernels::set_device(index);
    kernels::Stream stream = nullptr;
    if (auto s = kernels::stream_create(&stream); s != 0) {
        return make_error(std::string("cannot create a CUDA stream: ") + kernels::error_string(s));
    }
    GpuProbe out;
    // Large enough to dwarf the L2 cache (tens of MiB) and small enough for any card.
    const std::size_t copy_bytes =
        std::min<std::uint64_t>(1ull << 30, (*devices)[index].free_bytes / 8);
    kernels::Status s = kernels::probe_copy_bandwidth(copy_bytes, 20, stream, &out.copy_gb_s);
    std::string why;
    kernels::Blas* blas = s == 0 ? kernels::blas_create(stream, why) : nullptr;
    if (s == 0 && blas == nullptr) {
        kernels::stream_destroy(stream);
        return make_error(why);
    }
    if (s == 0)
        s = kernels::probe_gemm_rate(blas, 8192, 8192, 8192, false, 10, stream, &out.gemm_tflop_s);
    kernels::blas_destroy(blas);
    kernels::stream_destroy(stream);
    if (s != 0) {
        kernels::last_error();
        return make_error(std::string("GPU probe failed: ") + kernels::error_string(s));
    }
    return out;
}

namespace {

std::string gib(std::uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
    return buf;
}

// Why this model cannot run on the GPU kernels at all (empty when it can).
std::string unsupported_shape(const ModelConfig& cfg) {
    if (cfg.arch == Arch::V4) return {};
    const bool ok = cfg.arch == Arch::V7 ? kernels::wkv7_supports(cfg.head_size)
                                         : kernels::wkv5_supports(cfg.head_size);
    if (ok) return {};
    return "head size " + std::to_string(cfg.head_size) +
           " is not supported by the CUDA kernels (8, 16, 32, 64 or 128)";
}

// Why the GPU cannot run this model at all (empty when it can).
std::string unusable(const ModelConfig& cfg, const GpuDevice& dev) {
    // The kernels are built for compute capability 8.0 and later (kernels/CMakeLists.txt): on
    // an older GPU the upload would work and every forward pass fail.
    if (dev.compute_major < 8) {
        return "cuda:" + std::to_string(dev.index) + " (" + dev.name + ") has compute capability " +
               std::to_string(dev.compute_major) + "." + std::to_string(dev.compute_minor) +
               "; Ravel's CUDA kernels need 8.0 or later";
    }
    if (auto why = unsupported_shape(cfg); !why.empty()) return why;
    if (std::string why; !kernels::blas_available(why)) return why;
    return {};
}

// Weights, one session's workspace for 128-token chunks, and room for the CUDA context and
// cuBLAS's own buffers.
std::uint64_t bytes_needed(const ModelConfig& cfg, std::uint64_t weights) {
    return weights + detail::CudaSession::workspace_bytes(cfg, 128) + (256ull << 20);
}

std::string does_not_fit(const GpuDevice& dev, std::uint64_t needed, std::uint64_t weights) {
    return "the model does not fit on cuda:" + std::to_string(dev.index) + " (" + dev.name +
           "): it needs " + gib(needed) + " (weights " + gib(weights) + "), " +
           gib(dev.free_bytes) + " are free of " + gib(dev.total_bytes) +
           "; choose a smaller --dtype (q8_0, q4_0) or --device cpu";
}

// The GPU asked for, or an error for an index that does not exist.
Result<const GpuDevice*> chosen_device(const std::vector<GpuDevice>& devices, int index) {
    if (index >= static_cast<int>(devices.size())) {
        return make_error("there is no GPU cuda:" + std::to_string(index) + " (found " +
                          std::to_string(devices.size()) + ")");
    }
    return &devices[static_cast<std::size_t>(index)];
}

}  // namespace

namespace detail {

Result<DevicePlan> plan_device(const ModelConfig& config, const LoadOptions& options,
                               const WeightTypes& types) {
    auto choice = parse_device(options.device);
    if (!choice) return choice.error();
    if (!choice->cuda) return DevicePlan{};
    auto devices = cuda_devices();
    if (!devices) return DevicePlan{false, devices.message()};  // no GPU at all
    auto dev = chosen_device(*devices, choice->index);
    if (!dev) return dev.error();
    if (auto why = unusable(config, **dev); !why.empty()) return DevicePlan{false, why};
    const std::uint64_t weights = estimate_weight_bytes(config, types, kCudaArenaAlignment);
    const std::uint64_t needed = bytes_needed(config, weights);
    if (needed > (*dev)->free_bytes) return make_error(does_not_fit(**dev, needed, weights));
    return DevicePlan{true, {}};
}

Result<void> place_model(Model& model, const LoadOptions& options, const DevicePlan& plan) {
    if (!plan.gpu) {
        if (!plan.cpu_reason.empty()) {
            model.set_placement("cpu", "running on the CPU: " + plan.cpu_reason, nullptr);
        }
        return {};
    }
    auto choice = parse_device(options.device);
    if (!choice) return choice.error();
    auto devices = cuda_devices();
    if (!devices) return devices.error();
    auto chosen = chosen_device(*devices, choice->index);
    if (!chosen) return chosen.error();
    const GpuDevice& dev = **chosen;
    // Measured again on the real weights: free memory may have changed while loading.
    const std::uint64_t weights = cuda_weight_bytes(model.weights());
    const std::uint64_t needed = bytes_needed(model.config(), weights);
    if (needed > dev.free_bytes) return make_error(does_not_fit(dev, needed, weights));
    auto uploaded = upload_model(model.weights(), dev.index,
                                 "cuda:" + std::to_string(dev.index) + " (" + dev.name + ")");
    if (!uploaded) return uploaded.error();
    model.set_placement("cuda:" + std::to_string(dev.index), {}, std::move(*uploaded));
    return {};
}

}  // namespace detail

#else  // no CUDA backend in this build

namespace {
constexpr const char* kNoBackend =
    "this build has no CUDA backend (configure with -DRAVEL_CUDA=ON on a machine with the CUDA "
    "toolkit)";
}

Result<std::vector<GpuDevice>> cuda_devices() {
    return make_error(kNoBackend);
}

Result<GpuProbe> probe_gpu(int) {
    return make_error(kNoBackend);
}

namespace detail {

Result<DevicePlan> plan_device(const ModelConfig&, const LoadOptions& options, const WeightTypes&) {
    auto choice = parse_device(options.device);
    if (!choice) return choice.error();
    if (!choice->cuda) return DevicePlan{};
    return DevicePlan{false, kNoBackend};
}

Result<void> place_model(Model& model, const LoadOptions&, const DevicePlan& plan) {
    if (!plan.cpu_reason.empty()) {
        model.set_placement("cpu", "running on the CPU: " + plan.cpu_reason, nullptr);
    }
    return {};
}

}  // namespace detail

#endif

}  // namespace ravel
