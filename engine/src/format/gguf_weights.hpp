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
// stored q4_K / q5_K / q6_K tensors, re-encoded), so a mapping can give their pages back. It is
// kept with the deferred re-encodings, so it must stay callable as long as the result's
// `derived` (a WeightFile keeps both).
Result<GgufWeights> read_gguf(std::span<const std::byte> file,
                              std::function<void(std::span<const std::byte>)> done_with = {});

// Every q4_K / q5_K / q6_K tensor of `g` given a deferred buffer in `derived` that re-encodes it
// when first read (as q5_1, or q6_K as q8_0) and hands its file bytes to `done_with`, and its
// TensorInfo pointed there (gguf_kquant.cpp). Returns what is re-encoded ("73 q4_K as q5_1,
// 1 q6_K as q8_0"), empty when nothing is. A block with scales that are not finite is an error
// of the tensor's first read, not of this.
Result<std::string> defer_kquant_reencoding(
    GgufFile& g, std::span<const std::byte> file, DerivedTensors& derived,
    const std::function<void(std::span<const std::byte>)>& done_with);

// llama.cpp's rwkv6/rwkv7 tensors mapped to BlinkDL names (gguf_llama.cpp).
Result<std::vector<TensorInfo>> map_llama_rwkv(const GgufFile& g, std::span<const std::byte> file,
                                               int rwkv_version, DerivedTensors& derived);

// llama.cpp's World vocabulary (tokenizer.ggml.tokens) as rwkv_vocab_v20230424.txt text
// (gguf_llama_vocab.cpp).
Result<std::string> llama_rwkv_vocab_text(const GgufFile& g);

}  // namespace ravel::format
