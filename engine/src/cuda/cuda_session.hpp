// The GPU forward pass of one session: the same steps as the CPU path (model/forward.cpp) on
// device buffers, with the recurrent state kept on the device. One-token calls are captured
// once as a CUDA graph and replayed.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>

#include "cuda/cuda_model.hpp"
#include "ravel/model.hpp"
#include "ravel/result.hpp"
#include "ravel_kernels/elementwise.hpp"

namespace ravel::kernels {
struct Blas;
}

namespace ravel::detail {

struct CudaSessionOptions {
    bool graphs = true;  // replay one-token decoding from a captured graph
    // Test hook: run WKV in its sequence form even for one token.
    bool force_sequence_wkv = false;
};

class CudaSession {
  public:
    static Result<std::unique_ptr<CudaSession>> create(std::shared_ptr<const Model> model,
                                                       const CudaSessionOptions& options = {});
    ~CudaSession();
    CudaSession(const CudaSession&) = delete;
    CudaSession& operator=(const CudaSession&) = delete;

    // Runs T tokens (already checked against the vocabulary). `logits` receives the last row,
    // or all T rows when all_rows.
    Result<void> forward(const std::int32_t* tokens, int T, float* logits, bool all_rows);

    Result<void> upload_state(std::span<const float> values);
    Result<void> download_state(std::span<float> values);

    // Device bytes a session needs for chunks of up to `tokens` tokens (for the load-time check).
    static std::uint64_t workspace_bytes(const ModelConfig& config, int tokens);

    bool graph_active() const { return graph_ != nullptr; }

  private:
    CudaSession(std::shared_ptr<const Model> model, const CudaSessionOptions& options);
    Result<void> ensure_capacity(int tokens);
    void release_workspace();
    void enqueue(int T, bool all_rows);
    void time_mix_v4(int l, int T);
    void time_mix_v5(int l, int T);
    void time_mix_v7(int l, int T);
    void channel_mix(int l, int T);
    // y = act(W x) (+ y when accumulating): the activation is fused into the matrix-vector
    // kernel when decoding, a separate pass after cuBLAS otherwise.
    void matmul(const WeightView& w, const float* x, int ldx, int T, float* y, int ldy,
                bool accumulate, kernels::Activation act = kernels::Activation::None);
    // Independent products (the same input rows T): one launch per weight type when decoding,
    // so a layer's projections do not each pay a launch.
    struct Product {
        const WeightView* w;
        const float* x;
        int ldx;
        float* y;
        int ldy;
        bool accumulate = false;
        kernels::Activation act = kernels::Activation::None;
    };
    void products(std::initializer_list<Product> list, int T);
    // xx = layer_norm(x), then the token shift of `set` (see shift): one launch when decoding.
    void norm_shift(const float* x, const float* ln_w, const float* ln_b, float* prev, int T,
                    const kernels::MixSet& set, kernels::MixMode mode, const char* what);
    // Token shift of `set` from xx and the shift state `prev`, which then takes xx's last row.
    void shift(const float* xx, float* prev, int T, const kernels::MixSet& set,
               kernels::MixMode mode, const char* what);
    void check(int status, const char* what);
    Result<void> take_error();

    struct LayerPtrs {
        float* att_x_prev;
        float* att;
        float* ffn_x_prev;
    };
    LayerPtrs layer_state(int l) const;

    std::shared_ptr<const Model> model_;
    const CudaModel& cm_;
    CudaSessionOptions options_;
    void* stream_ = nullptr;
    kernels::Blas* blas_ = nullptr;
    float* state_ = nullptr;
    void* work_ = nullptr;  // one allocation carved into the buffers below
    int capacity_ = 0;
    float *x_ = nullptr, *xx_ = nullptr, *t_[6] = {}, *r_ = nullptr, *k_ = nullptr, *v_ = nullptr,
          *g_ = nullptr, *w_ = nullptr, *a_ = nullptr, *y_ = nullptr, *kk_ = nullptr,
          *v_first_ = nullptr, *vres_ = nullptr, *ffn_ = nullptr, *lora_in_ = nullptr,
          *lora_out_ = nullptr, *normed_ = nullptr, *logits_ = nullptr;
    int* tokens_ = nullptr;
    void* gemm_scratch_ = nullptr;
    std::size_t gemm_scratch_bytes_ = 0;
    void* graph_ = nullptr;
    bool graph_failed_ = false;
    std::string error_;
};

}  // namespace ravel::detail
