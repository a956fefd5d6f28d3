// Device discovery, memory, streams, events and graphs: the thin host API the engine's CUDA
// backend needs, so it never includes a CUDA header itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ravel_kernels/common.hpp"

namespace ravel::kernels {

struct DeviceProps {
    int index = 0;
    std::string name;
    int major = 0, minor = 0;  // compute capability
    int multiprocessors = 0;
    std::uint64_t total_bytes = 0;
    std::uint64_t free_bytes = 0;
    int memory_bus_bits = 0;
    int l2_bytes = 0;
};

// Number of usable devices; on failure returns a negative count and sets `why` to a sentence
// a user can act on ("no CUDA driver found", "no CUDA-capable GPU found", ...).
int device_count(std::string& why);
Status device_props(int index, DeviceProps& out);
Status set_device(int index);
// The CUDA runtime version this library was built against, as "13.0".
std::string runtime_version();

Status device_alloc(void** ptr, std::size_t bytes);
Status device_free(void* ptr);
Status host_alloc_pinned(void** ptr, std::size_t bytes);
Status host_free_pinned(void* ptr);
Status memset_async(void* dst, int value, std::size_t bytes, Stream stream);
Status copy_h2d_async(void* dst, const void* src, std::size_t bytes, Stream stream);
Status copy_d2h_async(void* dst, const void* src, std::size_t bytes, Stream stream);
Status copy_d2d_async(void* dst, const void* src, std::size_t bytes, Stream stream);
Status copy_h2d(void* dst, const void* src, std::size_t bytes);
Status copy_d2h(void* dst, const void* src, std::size_t bytes);

Status stream_create(Stream* stream);
Status stream_destroy(Stream stream);
Status stream_sync(Stream stream);
// Clears and returns the last launch error (sticky errors stay).
Status last_error();

// Graph capture of everything issued on `stream` between begin and end, then replay.
using Graph = void*;  // a cudaGraphExec_t
Status capture_begin(Stream stream);
Status capture_end(Stream stream, Graph* exec);
Status graph_launch(Graph exec, Stream stream);
Status graph_destroy(Graph exec);

// Events for timing device work.
using Event = void*;
Status event_create(Event* event);
Status event_destroy(Event event);
Status event_record(Event event, Stream stream);
Status event_elapsed_ms(Event start, Event stop, float* ms);

}  // namespace ravel::kernels
