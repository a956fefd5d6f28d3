// The CPU forward pass. One path for every sequence length: one-token decoding is the T = 1
// case of sequence mode, so both give the same result by construction.
#pragma once

#include <cstdint>
#include <vector>

#include "model/aligned_buffer.hpp"
#include "model/weights.hpp"
#include "ravel/model.hpp"
#include "ravel/state.hpp"

namespace ravel::detail {

class ThreadPool;
namespace cpu {
struct QuantizedTokens;
}

// Activation buffers for up to `capacity` tokens; reused between calls.
struct Workspace {
    ThreadPool* pool = nullptr;  // matrix products run here when set
    int capacity = 0;
    std::vector<float> x, t0, t1, t2, t3, t4, t5;         // T x C each
    std::vector<float> shifted;                           // (T + 1) x C, see norm_and_shift
    std::vector<float> r, k, v, g, w, a, y, kk, v_first;  // T x C each
    std::vector<float> ffn;                               // T x dim_ffn
    std::vector<float> lora_in, lora_out;                 // T x max LoRA width (x5 for v6)
    std::vector<float> normed;                            // rows for the head

    void ensure(const ModelConfig& config, int tokens);
    // Room for the FFN's hidden rows of a decoding call (T <= kSmallBatch) quantized by the key
    // product for the value product (Product::yq). False when it can't be had (or the rows
    // are not whole blocks); the value product then quantizes its input itself.
    bool quantized_ffn_hidden(const ModelConfig& config, int T, cpu::QuantizedTokens& out);

  private:
    AlignedBuffer ffn_hidden_quantized_;
};

// State pointers of one layer inside the flat state (see ravel/state.hpp for the layout).
struct LayerState {
    float* att_x_prev;
    float* att;  // v4: aa, bb, pp (3 x C); v5+: kv (H x N x N)
    float* ffn_x_prev;
};
LayerState layer_state(const ModelConfig& config, State& state, int layer);

struct LayerPass {
    const ModelConfig& cfg;
    const LayerWeights& w;
    LayerState s;
    Workspace& ws;
    int T;
    int layer;
    // The next layer (null after the last), whose first vectors are asked for ahead.
    const LayerWeights* next_w = nullptr;
    LayerState next_s{};
};

// When decoding, the small vectors a block's norm and token shift read first (norm weights,
// the shifted-in row, the mixes) have been pushed out of the caches by the megabytes of
// weights streamed since the last token. These ask for them one block ahead, so they arrive
// while that block's weights stream: this layer's channel mixing (called by the time mixing)
// and the next layer's time mixing (called by the channel mixing). No-ops for prompts.
void prefetch_channel_mix_inputs(const LayerPass& p);
void prefetch_next_time_mix_inputs(const LayerPass& p);

void time_mix_v4(const LayerPass& p, float* x);
void time_mix_v5(const LayerPass& p, float* x);  // v5.2 and v6
void time_mix_v7(const LayerPass& p, float* x);
void channel_mix(const LayerPass& p, float* x);

// Runs `T` tokens (already checked to be < n_vocab) through the model, updating `state`.
// `logits_rows` receives the logits of the last token, or of every token when all_rows; when it
// is null the final norm and head are skipped (a prompt's earlier chunks need only the state).
void forward(const Model& model, State& state, const std::int32_t* tokens, int T, Workspace& ws,
             float* logits_rows, bool all_rows);

// The final norm and head over the hidden states the last forward() of `T` tokens left in `ws`:
// the logits of its last token, or of every token when all_rows.
void head(const Model& model, Workspace& ws, int T, float* logits_rows, bool all_rows);

}  // namespace ravel::detail
