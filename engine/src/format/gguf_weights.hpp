// GGUF as a tensor directory with BlinkDL names, in the two dialects Ravel reads:
//   - Ravel's own files (general.architecture "ravel-rwkv"), written by `ravel-cli convert`:
//     BlinkDL names and shapes, used as they are;
//   - llama.cpp's "rwkv6" and "rwkv7" files: renamed, sliced and, where llama.cpp transposed or
//     rescaled a tensor, recomputed into DerivedTensors (docs/gguf.md has the table).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "format/gguf_derived.hpp"
#include "format/gguf_reader.hpp"
#include "format/shape_check.hpp"
#include "ravel/result.hpp"

namespace ravel::format {

inline constexpr std::string_view kRavelGgufArch = "ravel-rwkv";
inline constexpr std::uint32_t kRavelGgufFormatVersion = 1;

struct GgufWeights {
    ParsedWeights parsed;
    std::shared_ptr<DerivedTensors> derived;  // null when nothing was derived
};

// `done_with`, when given, is told of file bytes that are no longer needed once read (the
// stored q4_K / q5_K / q6_K tensors, re-encoded), so a mapping can give their pages back.
Result<GgufWeights> read_gguf(
    std::span<const std::byte> file,
    const std::function<void(std::span<const std::byte>)>& done_with = {});

// Every q4_K / q5_K / q6_K tensor of `g` decoded and re-encoded as q8_0 into `derived`, its
// TensorInfo pointed there, and its file bytes handed to `done_with` (gguf_kquant.cpp). Returns
// what was re-encoded ("49 q4_K, 25 q6_K"), empty when nothing was.
Result<std::string> reencode_kquants(
    GgufFile& g, std::span<const std::byte> file, DerivedTensors& derived,
    const std::function<void(std::span<const std::byte>)>& done_with);

// llama.cpp's rwkv6/rwkv7 tensors mapped to BlinkDL names (gguf_llama.cpp).
Result<std::vector<TensorInfo>> map_llama_rwkv(const GgufFile& g, std::span<const std::byte> file,
                                               int rwkv_version, DerivedTensors& derived);

// llama.cpp's World vocabulary (tokenizer.ggml.tokens) as rwkv_vocab_v20230424.txt text
// (gguf_llama_vocab.cpp).
Result<std::string> llama_rwkv_vocab_text(const GgufFile& g);

}  // namespace ravel::format
