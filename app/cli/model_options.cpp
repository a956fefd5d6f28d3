#include "model_options.hpp"

namespace ravel::cli {

Result<std::shared_ptr<const Model>> load_model_from_args(const Args& args) {
    auto path = args.get("model");
    if (!path) return make_error("--model FILE is required");
    const std::string device = args.get_or("device", "cpu");
    if (device != "cpu") {
        if (device.rfind("cuda", 0) == 0) {
            return make_error(
                "device '" + device +
                "' is not available: this build has no CUDA backend; use --device cpu");
        }
        return make_error("unknown device '" + device + "' (use cpu or cuda[:N])");
    }
    LoadOptions options;
    if (auto dtype = args.get("dtype")) {
        auto t = dtype_from_name(*dtype);
        if (!t)
            return make_error("unknown --dtype '" + *dtype +
                              "' (f32, f16, bf16, q8_0, q5_1, q4_0)");
        options.weight_type = *t;
    }
    if (auto threads = args.get_int("threads", 0, 0, 1024); !threads) return threads.error();
    return Model::load(*path, options);
}

}  // namespace ravel::cli
