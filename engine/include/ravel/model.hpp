// An RWKV model: immutable weights and hyper-parameters. Shared read-only between sessions and
// threads (all const member functions are thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ravel/result.hpp"
#include "ravel/tensor.hpp"
#include "ravel/weight_file.hpp"

namespace ravel {

enum class Arch { V4, V5_2, V6, V7 };
std::string_view arch_name(Arch arch);  // "4", "5.2", "6", "7"

struct ModelConfig {
    Arch arch = Arch::V7;
    int n_layer = 0;
    int n_embd = 0;
    int n_vocab = 0;
    int dim_ffn = 0;
    int n_head = 0;     // 0 for v4
    int head_size = 0;  // 0 for v4
    // LoRA widths read from tensor shapes (0 where the version has none).
    int lora_mix = 0;    // v6 time_maa_w1
    int lora_decay = 0;  // v6 time_decay_w1
    int lora_w = 0;      // v7 w1
    int lora_a = 0;      // v7 a1
    int lora_v = 0;      // v7 v1 (layers >= 1)
    int lora_g = 0;      // v7 g1
    std::int64_t n_params = 0;

    // Floats in one recurrent state (ChatRWKV's layout; see state.hpp).
    std::size_t state_floats() const;
};

// Reads the architecture from tensor names and shapes and checks every tensor the forward pass
// needs is present with a consistent shape.
Result<ModelConfig> detect_config(const WeightFile& file);

// The type a file holds most of its matrix elements in: what a load keeps the weights in when
// LoadOptions::weight_type is unset.
DType stored_matrix_type(const WeightFile& file);

struct LoadOptions {
    // Storage type of the 2-D weight matrices; vectors are always fp32. Unset: the type the
    // file stores most of its matrix elements in (a q4_0 GGUF stays q4_0, a bf16 .pth bf16;
    // f32 for synthetic models), as a user opening a model file expects.
    std::optional<DType> weight_type;
    // Called with progress in [0, 1]; returning false cancels the load.
    std::function<bool(float)> progress;
    // Where the model runs: "cpu", "cuda" (the first GPU) or "cuda:N". When no GPU can be used
    // (a build without the CUDA backend, no driver, no device, an unsupported shape) the model
    // loads on the CPU and Model::device_note() says why; a GPU without room for the model,
    // a device index that does not exist or an unknown name is an error.
    std::string device = "cpu";
};

// A model of a given shape with random weights, built in memory: speed can be measured with
// no model file. The same seed gives the same weights.
struct SyntheticSpec {
    Arch arch = Arch::V7;
    int n_layer = 12;
    int n_embd = 768;
    int n_vocab = 65536;
    int head_size = 64;
    std::uint64_t seed = 1;
};
// Parses "v7:12x768" or "v4:12x768:50277" (vocabulary defaults to 65536).
Result<SyntheticSpec> parse_synthetic_spec(std::string_view text);
// The config a synthetic model of this spec has (FFN and LoRA widths follow the official
// models' conventions for that width).
ModelConfig synthetic_config(const SyntheticSpec& spec);

struct ModelWeights;  // private to the engine
namespace detail {
struct CudaModel;  // the device copy of the weights, private to the engine
}

class Model {
  public:
    static Result<std::shared_ptr<const Model>> load(const std::filesystem::path& path,
                                                     const LoadOptions& options = {});
    static Result<std::shared_ptr<const Model>> from_file(const WeightFile& file,
                                                          const LoadOptions& options = {});
    static Result<std::shared_ptr<const Model>> synthetic(const SyntheticSpec& spec,
                                                          const LoadOptions& options = {});

    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const ModelConfig& config() const { return config_; }
    FileFormat source_format() const { return source_format_; }
    DType weight_type() const { return weight_type_; }
    // Bytes of weights read to decode one token (every matrix once, the head, the vectors).
    std::uint64_t weight_bytes_per_token() const;
    // Weights in the layers' matrices (LoRAs included; embedding and head excluded): a
    // matrix-vector product costs two flops per element.
    std::uint64_t layer_matrix_elements() const;
    // Bytes of every weight the model holds (the whole embedding included).
    std::uint64_t weight_bytes() const;

    const ModelWeights& weights() const { return *weights_; }

    // The backend the model runs on: "cpu" or "cuda:N".
    const std::string& device() const { return device_; }
    // Why the model runs on the CPU although a GPU was asked for; empty otherwise.
    const std::string& device_note() const { return device_note_; }
    // Engine-internal: the weights on the GPU (null on the CPU), and placing them while loading.
    const detail::CudaModel* cuda_model() const { return cuda_.get(); }
    void set_placement(std::string device, std::string note,
                       std::shared_ptr<const detail::CudaModel> cuda);

    Model(ModelConfig config, FileFormat format, DType weight_type,
          std::unique_ptr<ModelWeights> weights);

  private:
    ModelConfig config_;
    FileFormat source_format_;
    DType weight_type_;
    std::unique_ptr<ModelWeights> weights_;
    std::string device_ = "cpu";
    std::string device_note_;
    std::shared_ptr<const detail::CudaModel> cuda_;
};

}  // namespace ravel
