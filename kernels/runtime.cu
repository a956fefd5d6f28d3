// Host wrappers over the CUDA runtime (see ravel_kernels/runtime.hpp).
#include <cuda_runtime.h>

#include "ravel_kernels/runtime.hpp"

namespace ravel::kernels {

namespace {
cudaStream_t as_stream(Stream s) {
    return static_cast<cudaStream_t>(s);
}
}  // namespace

const char* error_string(Status status) {
    if (status <= kBlasErrorBase) {
        switch (kBlasErrorBase - status) {
            case 1:
                return "cuBLAS: library not initialised";
            case 3:
                return "cuBLAS: out of device memory";
            case 7:
                return "cuBLAS: invalid value";
            case 8:
                return "cuBLAS: architecture mismatch";
            case 13:
                return "cuBLAS: execution failed";
            case 14:
                return "cuBLAS: internal error";
            case 15:
                return "cuBLAS: operation not supported";
            default:
                return "cuBLAS: call failed";
        }
    }
    return cudaGetErrorString(static_cast<cudaError_t>(status));
}

int device_count(std::string& why) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n > 0) return n;
    cudaGetLastError();  // the runtime keeps the failure; later calls must not see it
    switch (e) {
        case cudaSuccess:
        case cudaErrorNoDevice:
            why = "no CUDA-capable GPU found";
            break;
        case cudaErrorInsufficientDriver:
            why = "no CUDA driver found, or the driver is older than CUDA " + runtime_version() +
                  " needs";
            break;
        default:
            why = std::string("the CUDA runtime could not start: ") + cudaGetErrorString(e);
    }
    return -1;
}

std::string runtime_version() {
    int v = 0;
    cudaRuntimeGetVersion(&v);
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

Status device_props(int index, DeviceProps& out) {
    cudaDeviceProp p{};
    if (auto e = cudaGetDeviceProperties(&p, index); e != cudaSuccess) return e;
    out.index = index;
    out.name = p.name;
    out.major = p.major;
    out.minor = p.minor;
    out.multiprocessors = p.multiProcessorCount;
    out.total_bytes = p.totalGlobalMem;
    out.memory_bus_bits = p.memoryBusWidth;
    out.l2_bytes = p.l2CacheSize;
    int previous = 0;
    if (auto e = cudaGetDevice(&previous); e != cudaSuccess) return e;
    if (auto e = cudaSetDevice(index); e != cudaSuccess) return e;
    std::size_t free_b = 0, total_b = 0;
    const cudaError_t e = cudaMemGetInfo(&free_b, &total_b);
    cudaSetDevice(previous);
    if (e != cudaSuccess) return e;
    out.free_bytes = free_b;
    return cudaSuccess;
}

Status set_device(int index) {
    return cudaSetDevice(index);
}

Status device_alloc(void** ptr, std::size_t bytes) {
    return cudaMalloc(ptr, bytes);
}
Status device_free(void* ptr) {
    return cudaFree(ptr);
}
Status host_alloc_pinned(void** ptr, std::size_t bytes) {
    return cudaMallocHost(ptr, bytes);
}
Status host_free_pinned(void* ptr) {
    return cudaFreeHost(ptr);
}
Status memset_async(void* dst, int value, std::size_t bytes, Stream stream) {
    return cudaMemsetAsync(dst, value, bytes, as_stream(stream));
}
Status copy_h2d_async(void* dst, const void* src, std::size_t bytes, Stream stream) {
    return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, as_stream(stream));
}
Status copy_d2h_async(void* dst, const void* src, std::size_t bytes, Stream stream) {
    return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, as_stream(stream));
}
Status copy_d2d_async(void* dst, const void* src, std::size_t bytes, Stream stream) {
    return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, as_stream(stream));
}
Status copy_h2d(void* dst, const void* src, std::size_t bytes) {
    return cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
}
Status copy_d2h(void* dst, const void* src, std::size_t bytes) {
    return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
}

Status stream_create(Stream* stream) {
    cudaStream_t s = nullptr;
    const cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    *stream = s;
    return e;
}
Status stream_destroy(Stream stream) {
    return cudaStreamDestroy(as_stream(stream));
}
Status stream_sync(Stream stream) {
    return cudaStreamSynchronize(as_stream(stream));
}
Status last_error() {
    return cudaGetLastError();
}

Status capture_begin(Stream stream) {
    // Thread-local mode: other threads may keep using the runtime while this one captures.
    return cudaStreamBeginCapture(as_stream(stream), cudaStreamCaptureModeThreadLocal);
}

Status capture_end(Stream stream, Graph* exec) {
    cudaGraph_t graph = nullptr;
    *exec = nullptr;
    if (auto e = cudaStreamEndCapture(as_stream(stream), &graph); e != cudaSuccess) {
        if (graph != nullptr) cudaGraphDestroy(graph);
        cudaGetLastError();
        return e;
    }
    cudaGraphExec_t g = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&g, graph, 0);
    cudaGraphDestroy(graph);
    *exec = g;
    return e;
}

Status graph_launch(Graph exec, Stream stream) {
    return cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec), as_stream(stream));
}
Status graph_destroy(Graph exec) {
    return exec == nullptr ? cudaSuccess : cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec));
}

Status event_create(Event* event) {
    cudaEvent_t e = nullptr;
    const cudaError_t r = cudaEventCreate(&e);
    *event = e;
    return r;
}
Status event_destroy(Event event) {
    return cudaEventDestroy(static_cast<cudaEvent_t>(event));
}
Status event_record(Event event, Stream stream) {
    return cudaEventRecord(static_cast<cudaEvent_t>(event), as_stream(stream));
}
Status event_elapsed_ms(Event start, Event stop, float* ms) {
    if (auto e = cudaEventSynchronize(static_cast<cudaEvent_t>(stop)); e != cudaSuccess) return e;
    return cudaEventElapsedTime(ms, static_cast<cudaEvent_t>(start),
                                static_cast<cudaEvent_t>(stop));
}

}  // namespace ravel::kernels
