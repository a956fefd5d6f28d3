// Puts a freshly built model on the device LoadOptions::device names: uploads the weights
// when a GPU can take them, otherwise records why the model stays on the CPU.
#pragma once

#include "model/weight_types.hpp"
#include "ravel/model.hpp"

namespace ravel::detail {

// Before any weight is read: refuses a GPU that is asked for but cannot hold a model of this
// shape with these weight types, so a model too large fails at once instead of after a long
// load.
Result<void> check_device_memory(const ModelConfig& config, const LoadOptions& options,
                                 const WeightTypes& types);

Result<void> place_model(Model& model, const LoadOptions& options);

}  // namespace ravel::detail
