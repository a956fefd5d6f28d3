#include "model_options.hpp"

#include <iostream>

namespace ravel::cli {

Result<LoadOptions> load_options_from_args(const Args& args) {
    LoadOptions options;
    // cpu, cuda or cuda:N; without a usable GPU the model runs on the CPU and says why.
    options.device = args.get_or("device", "cpu");
    if (auto dtype = args.get("dtype")) {
        auto t = dtype_from_name(*dtype);
        if (!t)
            return make_error("unknown --dtype '" + *dtype +
                              "' (f32, f16, bf16, q8_0, q5_1, q4_0)");
        options.weight_type = *t;
    }
    return options;
}

Result<SessionOptions> session_options_from_args(const Args& args) {
    auto threads = args.get_int("threads", 0, 0, 1024);
    if (!threads) return threads.error();
    return SessionOptions{static_cast<int>(*threads)};
}

Result<std::shared_ptr<const Model>> load_model_from_args(const Args& args) {
    auto path = args.get("model");
    if (!path) return make_error("--model FILE is required");
    auto options = load_options_from_args(args);
    if (!options) return options.error();
    auto model = Model::load(*path, *options);
    if (model && !(*model)->device_note().empty()) {
        std::cerr << "ravel-cli: " << (*model)->device_note() << "\n";
    }
    return model;
}

}  // namespace ravel::cli
