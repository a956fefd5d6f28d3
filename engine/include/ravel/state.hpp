// The recurrent state of one conversation. A plain value: copying it forks the conversation.
//
// Layout (ChatRWKV's state list, so reference states compare directly), per layer:
//   v4:        att_x_prev[C], att_aa[C], att_bb[C], att_pp[C], ffn_x_prev[C]
//   v5.2, v6:  att_x_prev[C], att_kv[H, N, N] indexed [head, key, value], ffn_x_prev[C]
//   v7:        att_x_prev[C], att_kv[H, N, N] indexed [head, value, key], ffn_x_prev[C]
// The x_prev vectors are LayerNorm outputs of the previous token. v4's aa/bb/pp are the
// max-shifted numerator, denominator and exponent; the initial pp is -1e30.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ravel/large_allocator.hpp"
#include "ravel/model.hpp"
#include "ravel/result.hpp"

namespace ravel {

struct StateSlice {
    std::string name;  // e.g. "blocks.3.att_kv"
    std::vector<std::int64_t> shape;
    std::size_t offset = 0;  // in floats
    std::size_t count = 0;
};

class State {
  public:
    State() = default;
    // The initial state for a model of this shape.
    explicit State(const ModelConfig& config);

    const ModelConfig& config() const { return config_; }
    std::span<float> values() { return values_; }
    std::span<const float> values() const { return values_; }
    std::vector<StateSlice> layout() const;

    // True when this state has the shape a model with `config` needs.
    bool fits(const ModelConfig& config) const;
    // Replaces the values from a flat float array in the layout above.
    Result<void> assign(std::span<const float> values);
    void reset();

    bool operator==(const State& other) const { return values_ == other.values_; }

  private:
    ModelConfig config_;
    // Written whole whenever a state is made (a fork, a restore, a decoded snapshot): large
    // ones in huge pages (ravel/large_allocator.hpp).
    std::vector<float, LargeAllocator<float>> values_;
};

}  // namespace ravel
