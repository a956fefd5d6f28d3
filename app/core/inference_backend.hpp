// The narrow seam between the worker thread and the engine. The worker owns exactly one backend
// and calls it only from its own thread. The real implementation (engine_backend.cpp) wraps
// ravel::Model/Session/Generator; tests use a deterministic fake.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "inference_types.hpp"
#include "ravel/result.hpp"

namespace ravel::app {

class InferenceBackend {
  public:
    virtual ~InferenceBackend() = default;

    // Loads a model, replacing the current one only on success. `progress` receives [0, 1] and
    // returns false to cancel; a cancelled load returns ravel::cancelled_error().
    virtual ravel::Result<ModelInfo> load(const LoadRequest& request,
                                          const std::function<bool(double)>& progress) = 0;
    virtual void unload() = 0;
    virtual bool loaded() const = 0;

    // Produces one reply. `on_text` receives each decoded piece (never half a character). The
    // backend checks `stop` (raised by any thread) before every token and between prompt
    // chunks; a stopped reply is a success with result.stopped set.
    virtual ravel::Result<GenerationResult> generate(
        const GenerationRequest& request, const std::function<void(const QString&)>& on_text,
        const std::atomic<bool>& stop) = 0;
};

using BackendFactory = std::function<std::unique_ptr<InferenceBackend>()>;

// The engine-backed implementation.
std::unique_ptr<InferenceBackend> make_engine_backend();

}  // namespace ravel::app
