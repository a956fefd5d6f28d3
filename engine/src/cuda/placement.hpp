// Puts a freshly built model on the device LoadOptions::device names: uploads the weights
// when a GPU can take them, otherwise records why the model stays on the CPU.
#pragma once

#include "ravel/model.hpp"

namespace ravel::detail {

Result<void> place_model(Model& model, const LoadOptions& options);

}  // namespace ravel::detail
