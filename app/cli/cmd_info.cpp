#include <nlohmann/json.hpp>
#include <ostream>

#include "args.hpp"
#include "commands.hpp"
#include "json_out.hpp"
#include "ravel/gguf.hpp"
#include "ravel/model.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::cli {

namespace {

nlohmann::json describe(const WeightFile& file, const ModelConfig& c) {
    nlohmann::json j;
    j["file"] = file.path().string();
    j["format"] = std::string(file_format_name(file.format()));
    j["file_bytes"] = file.file_size();
    j["rwkv_version"] = std::string(arch_name(c.arch));
    j["n_layer"] = c.n_layer;
    j["n_embd"] = c.n_embd;
    j["n_vocab"] = c.n_vocab;
    j["dim_ffn"] = c.dim_ffn;
    j["n_head"] = c.n_head;
    j["head_size"] = c.head_size;
    nlohmann::json lora = nlohmann::json::object();
    if (c.arch == Arch::V6) {
        lora["mix"] = c.lora_mix;
        lora["decay"] = c.lora_decay;
    } else if (c.arch == Arch::V7) {
        lora["w"] = c.lora_w;
        lora["a"] = c.lora_a;
        lora["v"] = c.lora_v;
        lora["g"] = c.lora_g;
    }
    j["lora_dims"] = lora;
    j["n_params"] = c.n_params;
    j["n_tensors"] = file.tensors().size();
    j["state_floats"] = c.state_floats();
    j["state_bytes"] = c.state_floats() * sizeof(float);
    nlohmann::json dtypes = nlohmann::json::object();
    for (const auto& t : file.tensors()) {
        auto& n = dtypes[std::string(dtype_name(t.dtype))];
        n = n.is_null() ? 1 : n.get<int>() + 1;
    }
    j["tensor_dtypes"] = dtypes;
    if (auto it = file.metadata().find(std::string(kGgufReencoded)); it != file.metadata().end()) {
        j["reencoded"] = it->second;  // what the K tensors were stored as, and became
    }
    // What chat, eval and bench keep the matrices in without --dtype.
    j["weight_type"] = std::string(dtype_name(stored_matrix_type(file)));
    return j;
}

}  // namespace

int cmd_info(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    auto args = Args::parse(argv, {{"model"}, {"json"}});
    if (!args) {
        err << "ravel-cli info: " << args.message()
            << "\nusage: ravel-cli info --model FILE [--json]\n";
        return 2;
    }
    auto path = args->get("model");
    if (!path) {
        err << "ravel-cli info: --model FILE is required\n";
        return 2;
    }
    auto file = WeightFile::open(*path);
    if (!file) {
        err << "ravel-cli info: " << file.message() << "\n";
        return 1;
    }
    auto config = detect_config(*file);
    if (!config) {
        err << "ravel-cli info: " << config.message() << "\n";
        return 1;
    }
    const nlohmann::json j = describe(*file, *config);
    if (args->flag("json")) {
        out << json_text(j, 2) << "\n";
        return 0;
    }
    out << "file         " << j["file"].get<std::string>() << " (" << j["format"].get<std::string>()
        << ", " << file->file_size() << " bytes)\n"
        << "RWKV         " << j["rwkv_version"].get<std::string>() << "\n"
        << "layers       " << config->n_layer << "\n"
        << "width        " << config->n_embd << "\n";
    if (config->arch != Arch::V4) {
        out << "heads        " << config->n_head << " x " << config->head_size << "\n";
    }
    out << "ffn          " << config->dim_ffn << "\n"
        << "vocabulary   " << config->n_vocab << "\n";
    if (!j["lora_dims"].empty()) out << "LoRA dims    " << json_text(j["lora_dims"]) << "\n";
    out << "parameters   " << config->n_params << "\n"
        << "state        " << config->state_floats() << " floats ("
        << config->state_floats() * sizeof(float) << " bytes)\n"
        << "tensors      " << file->tensors().size() << " " << json_text(j["tensor_dtypes"])
        << "\n";
    if (j.contains("reencoded")) {
        out << "re-encoded   " << j["reencoded"].get<std::string>()
            << " when loaded (no kernels for K types)\n";
    }
    out << "weights      " << j["weight_type"].get<std::string>()
        << " (kept at load unless --dtype asks for another type)\n";
    return 0;
}

}  // namespace ravel::cli
