#include "ravel/state.hpp"

#include <algorithm>
#include <string>

namespace ravel {

namespace {
constexpr float kV4InitialExponent = -1e30f;  // ChatRWKV's initial pp: "nothing seen yet"
}

State::State(const ModelConfig& config) : config_(config) {
    reset();
}

void State::reset() {
    values_.assign(config_.state_floats(), 0.0f);
    if (config_.arch == Arch::V4) {
        const std::size_t C = static_cast<std::size_t>(config_.n_embd);
        for (int l = 0; l < config_.n_layer; ++l) {
            float* pp = values_.data() + static_cast<std::size_t>(l) * 5 * C + 3 * C;
            std::fill(pp, pp + C, kV4InitialExponent);
        }
    }
}

std::vector<StateSlice> State::layout() const {
    std::vector<StateSlice> out;
    const std::int64_t C = config_.n_embd;
    std::size_t offset = 0;
    auto add = [&](int layer, const char* name, std::vector<std::int64_t> shape) {
        std::size_t count = 1;
        for (auto d : shape) count *= static_cast<std::size_t>(d);
        out.push_back(
            {"blocks." + std::to_string(layer) + "." + name, std::move(shape), offset, count});
        offset += count;
    };
    for (int l = 0; l < config_.n_layer; ++l) {
        add(l, "att_x_prev", {C});
        if (config_.arch == Arch::V4) {
            add(l, "att_aa", {C});
            add(l, "att_bb", {C});
            add(l, "att_pp", {C});
        } else {
            add(l, "att_kv", {config_.n_head, config_.head_size, config_.head_size});
        }
        add(l, "ffn_x_prev", {C});
    }
    return out;
}

bool State::fits(const ModelConfig& c) const {
    return c.arch == config_.arch && c.n_layer == config_.n_layer && c.n_embd == config_.n_embd &&
           c.n_head == config_.n_head && c.head_size == config_.head_size &&
           values_.size() == c.state_floats();
}

Result<void> State::assign(std::span<const float> values) {
    if (values.size() != values_.size()) {
        return make_error("state has " + std::to_string(values.size()) +
                          " values; this model (RWKV " + std::string(arch_name(config_.arch)) +
                          ", " + std::to_string(config_.n_layer) + " layers, width " +
                          std::to_string(config_.n_embd) + ") needs " +
                          std::to_string(values_.size()));
    }
    std::copy(values.begin(), values.end(), values_.begin());
    return {};
}

}  // namespace ravel
