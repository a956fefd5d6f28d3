// Options shared by the commands that load a model (--model, --dtype, --device, --threads).
#pragma once

#include <memory>
#include <string>

#include "args.hpp"
#include "ravel/model.hpp"
#include "ravel/session.hpp"

namespace ravel::cli {

// --dtype and --device as load options.
Result<LoadOptions> load_options_from_args(const Args& args);

// --threads as session options: 0 (the default) runs on one thread per physical core this
// process may use (default_thread_count in ravel/machine.hpp).
Result<SessionOptions> session_options_from_args(const Args& args);

// Loads the model named by --model with --dtype; --device cuda is refused with a clear
// message when this build or machine has no CUDA backend.
Result<std::shared_ptr<const Model>> load_model_from_args(const Args& args);

}  // namespace ravel::cli
