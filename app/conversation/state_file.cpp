#include "conversation/state_file.hpp"

#include <cstring>

#include "ravel/resume_record.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::conversation {

Result<State> load_state_file(const std::filesystem::path& path, const ModelConfig& config) {
    const std::string where = "state file " + path.string() + ": ";
    if (config.arch == Arch::V4 || config.n_head <= 0 || config.head_size <= 0) {
        return make_error(where + "RWKV-4 models have no state-tuning states");
    }
    auto file = WeightFile::open(path);
    if (!file) return file.error();
    State state(config);
    std::vector<StateSlice> slices = state.layout();
    int found = 0;
    std::vector<bool> seen(static_cast<std::size_t>(config.n_layer), false);
    for (const auto& t : file->tensors()) {
        const std::string prefix = "blocks.";
        const std::string suffix = ".att.time_state";
        if (t.name.rfind(prefix, 0) != 0 || t.name.size() <= prefix.size() + suffix.size() ||
            t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0) {
            continue;
        }
        const std::string num =
            t.name.substr(prefix.size(), t.name.size() - prefix.size() - suffix.size());
        if (num.empty() || num.size() > 5 ||
            num.find_first_not_of("0123456789") != std::string::npos) {
            return make_error(where + "unexpected tensor " + t.name);
        }
        const int layer = std::stoi(num);
        if (layer >= config.n_layer) {
            return make_error(where + t.name + " is for layer " + num + " but the model has " +
                              std::to_string(config.n_layer) + " layers");
        }
        if (seen[static_cast<std::size_t>(layer)])
            return make_error(where + t.name + " appears twice");
        seen[static_cast<std::size_t>(layer)] = true;
        const std::vector<std::int64_t> want = {config.n_head, config.head_size, config.head_size};
        if (t.shape != want) {
            return make_error(where + t.name + " has shape " + t.shape_string() +
                              ", the model needs (" + std::to_string(config.n_head) + ", " +
                              std::to_string(config.head_size) + ", " +
                              std::to_string(config.head_size) + ")");
        }
        const std::string slice_name = "blocks." + num + ".att_kv";
        const StateSlice* slice = nullptr;
        for (const auto& s : slices) {
            if (s.name == slice_name) slice = &s;
        }
        if (slice == nullptr) return make_error(where + "the model's state has no " + slice_name);
        auto values = file->read_f32(t);
        if (!values) return make_error(where + values.message());
        const std::size_t n = static_cast<std::size_t>(config.head_size);
        if (values->size() != slice->count || slice->count != n * n * config.n_head) {
            return make_error(where + t.name + " holds the wrong number of values");
        }
        float* dst = state.values().data() + slice->offset;
        // dst[h][i][j] = time_state[h][j][i] (ChatRWKV: time_state.transpose(1, 2)).
        for (std::size_t h = 0; h < static_cast<std::size_t>(config.n_head); ++h) {
            const float* src = values->data() + h * n * n;
            for (std::size_t i = 0; i < n; ++i) {
                for (std::size_t j = 0; j < n; ++j) dst[h * n * n + i * n + j] = src[j * n + i];
            }
        }
        ++found;
    }
    if (found != config.n_layer) {
        return make_error(where + "holds time_state for " + std::to_string(found) + " of " +
                          std::to_string(config.n_layer) + " layers");
    }
    return state;
}

Result<void> set_start_state_from_file(storage::Store& store, std::int64_t conversation_id,
                                       const ModelContext& context,
                                       const std::filesystem::path& path) {
    auto state = load_state_file(path, context.model->config());
    if (!state) return state.error();
    ResumeRecord record;
    record.state = std::move(*state);
    record.model = context.fingerprint;
    record.tokenizer_id = context.tokenizer->id();
    return store.set_start_state(conversation_id, encode_resume_record(record),
                                 path.filename().string());
}

}  // namespace ravel::conversation
