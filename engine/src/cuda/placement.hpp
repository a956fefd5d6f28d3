// Puts a freshly built model on the device LoadOptions::device names: uploads the weights
// when a GPU can take them, otherwise records why the model stays on the CPU.
#pragma once

#include <string>

#include "model/weight_types.hpp"
#include "ravel/model.hpp"

namespace ravel::detail {

// Where the model will run, decided before any weight is read so the weights are laid out for
// the kernels that will multiply them (a model that falls back to the CPU gets the CPU's
// layout). A GPU asked for that cannot hold a model of this shape with these weight types is
// an error at once, instead of after a long load.
struct DevicePlan {
    bool gpu = false;        // LoadOptions::device asks for a GPU and it can run the model
    std::string cpu_reason;  // why a GPU asked for will not be used (empty otherwise)
};
Result<DevicePlan> plan_device(const ModelConfig& config, const LoadOptions& options,
                               const WeightTypes& types);

// Uploads the weights when the plan says GPU; otherwise records why the model stays on the CPU.
Result<void> place_model(Model& model, const LoadOptions& options, const DevicePlan& plan);

}  // namespace ravel::detail
