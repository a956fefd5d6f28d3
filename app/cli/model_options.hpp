// Options shared by the commands that load a model (--model, --dtype, --device, --threads).
#pragma once

#include <memory>
#include <string>

#include "args.hpp"
#include "ravel/model.hpp"

namespace ravel::cli {

// Loads the model named by --model with --dtype; --device cuda is refused with a clear
// message when this build or machine has no CUDA backend.
Result<std::shared_ptr<const Model>> load_model_from_args(const Args& args);

}  // namespace ravel::cli
