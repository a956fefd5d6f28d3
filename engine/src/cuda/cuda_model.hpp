// A model's weights on a GPU: one device allocation holding every vector (fp32) and matrix (in
// its storage type, byte for byte as on the host), and views into it per layer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/weights.hpp"
#include "ravel/model.hpp"
#include "ravel_kernels/common.hpp"

namespace ravel::detail {

using kernels::WeightView;

struct CudaLayer {
    const float *ln1_w = nullptr, *ln1_b = nullptr, *ln2_w = nullptr, *ln2_b = nullptr;
    const float *mix_k = nullptr, *mix_v = nullptr, *mix_r = nullptr, *mix_g = nullptr;
    const float *decay = nullptr, *bonus = nullptr, *ln_x_w = nullptr, *ln_x_b = nullptr;
    const float *maa_x = nullptr, *maa_w = nullptr, *maa_k = nullptr, *maa_v = nullptr,
                *maa_r = nullptr, *maa_g = nullptr;
    const float *x_r = nullptr, *x_w = nullptr, *x_k = nullptr, *x_v = nullptr, *x_a = nullptr,
                *x_g = nullptr;
    const float *w0 = nullptr, *a0 = nullptr, *v0 = nullptr, *k_k = nullptr, *k_a = nullptr,
                *r_k = nullptr;
    const float *ffn_mix_k = nullptr, *ffn_mix_r = nullptr;
    WeightView att_r, att_k, att_v, att_g, att_o;
    WeightView maa_w1, maa_w2[5], decay_w1, decay_w2;
    WeightView w1, w2, a1, a2, v1, v2, g1, g2;
    WeightView ffn_k, ffn_v, ffn_r;
    bool has_value_residual = false;
};

struct CudaModel {
    CudaModel() = default;
    CudaModel(const CudaModel&) = delete;
    CudaModel& operator=(const CudaModel&) = delete;
    ~CudaModel();

    int device = 0;
    std::string device_name;
    void* arena = nullptr;
    std::uint64_t arena_bytes = 0;
    WeightView emb, head;
    const float *ln_out_w = nullptr, *ln_out_b = nullptr;
    std::vector<CudaLayer> layers;
    // Every matrix, for sizing the GEMM scratch of a session.
    std::vector<WeightView> matrices;
};

kernels::WType wtype_of(DType type);

// Every tensor's offset in the device arena is a multiple of this.
constexpr std::uint64_t kCudaArenaAlignment = 256;

// Device bytes the weights of `weights` take (alignment included).
std::uint64_t cuda_weight_bytes(const ModelWeights& weights);

// Copies the weights to `device` (already checked to have room).
Result<std::shared_ptr<const CudaModel>> upload_model(const ModelWeights& weights, int device,
                                                      std::string device_name);

}  // namespace ravel::detail
