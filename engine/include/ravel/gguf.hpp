// Writing GGUF (version 3): a general writer whose tensor bytes are produced one tensor at a
// time (memory stays at one tensor, whatever the model size), and Ravel's model conversion on
// top of it. Reading is WeightFile::open; docs/gguf.md describes both dialects.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ravel/result.hpp"
#include "ravel/tensor.hpp"
#include "ravel/weight_file.hpp"

namespace ravel {

class GgufWriter {
  public:
    // Fills exactly the tensor's byte size (dtype_bytes_for(type, elements)).
    using Fill = std::function<Result<void>(std::span<std::byte> out)>;

    // Tensor data alignment; a power of two. 32 (GGUF's default) unless set.
    void set_alignment(std::uint32_t alignment) { alignment_ = alignment; }

    void add_string(std::string key, std::string_view value);
    void add_u32(std::string key, std::uint32_t value);
    void add_f32(std::string key, float value);
    void add_string_array(std::string key, const std::vector<std::string>& values);
    void add_i32_array(std::string key, const std::vector<std::int32_t>& values);

    // `shape` in PyTorch order (outermost first); at most 4 dimensions, and for quantized types
    // the innermost dimension must hold whole blocks. Tensors are written in the order added.
    Result<void> add_tensor(std::string name, DType type, std::vector<std::int64_t> shape,
                            Fill fill);

    // Writes to a temporary file next to `path` and renames it into place, so `path` is never
    // left half-written. Returns the bytes written.
    Result<std::uint64_t> write(const std::filesystem::path& path) const;

  private:
    struct Kv {
        std::string key;
        std::uint32_t type;
        std::vector<std::byte> value;  // encoded, after the type field
    };
    struct Tensor {
        std::string name;
        DType type;
        std::vector<std::int64_t> shape;
        std::uint64_t nbytes;
        Fill fill;
    };
    std::vector<Kv> kv_;
    std::vector<Tensor> tensors_;
    std::uint32_t alignment_ = 32;
};

// Metadata of Ravel's own GGUF files (general.architecture = "ravel-rwkv").
inline constexpr std::string_view kGgufRavelArch = "ravel-rwkv";
inline constexpr std::string_view kGgufTokenizerKind = "tokenizer.ravel.kind";
inline constexpr std::string_view kGgufTokenizerFileName = "tokenizer.ravel.vocab_file_name";
inline constexpr std::string_view kGgufTokenizerFile = "tokenizer.ravel.vocab_file";

inline constexpr std::string_view kGgufEmbHasLn0 = "ravel.emb_has_ln0";

// Not stored in any file: added to WeightFile::metadata() of a GGUF whose q4_K / q5_K / q6_K
// tensors are re-encoded when first read, saying what they were and become
// ("49 q4_K as q5_1, 25 q6_K as q8_0").
inline constexpr std::string_view kGgufReencoded = "ravel.reencoded";

struct GgufConvertOptions {
    DType weight_type = DType::F16;
    // Store emb.weight with blocks.0.ln0 already applied (as ChatRWKV does at load time) and
    // mark it with ravel.emb_has_ln0 = "true", so the loader can use the table in place instead
    // of normalising every row at each start. A source already marked is never folded twice.
    bool fold_ln0 = false;
    // Extra metadata (architecture facts the caller read from the model).
    std::vector<std::pair<std::string, std::string>> strings;
    std::vector<std::pair<std::string, std::uint32_t>> numbers;
    // The tokenizer to embed: kind ("world", "neox", "byte"), and for world/neox the vocabulary
    // file's name and bytes. Empty kind: none embedded.
    std::string tokenizer_kind;
    std::string tokenizer_file_name;
    std::string tokenizer_file;
};

struct GgufConvertReport {
    std::size_t tensors = 0;
    std::size_t in_weight_type = 0;  // tensors stored in options.weight_type
    std::uint64_t bytes = 0;
};

// The type a source tensor gets in a Ravel GGUF of `weight_type`: 2-D ".weight" matrices
// (the projections and head) take it when their rows hold whole blocks, emb takes
// embedding_type(weight_type); vectors, norms and
// the LoRA matrices (att.w1 ... g2, time_maa_w1/w2, time_decay_w1/w2) stay f32.
DType ravel_gguf_tensor_type(const TensorInfo& tensor, DType weight_type);

// Writes `source` as a Ravel GGUF at `out` (BlinkDL names and shapes, 32-byte aligned data).
Result<GgufConvertReport> convert_to_gguf(const WeightFile& source,
                                          const std::filesystem::path& out,
                                          const GgufConvertOptions& options);

}  // namespace ravel
