#include "format/gguf_weights.hpp"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "format/kquant.hpp"
#include "ravel/quant.hpp"

namespace ravel::format {

namespace {

Result<void> check_unique(const std::vector<TensorInfo>& tensors) {
    std::set<std::string_view> seen;
    for (const auto& t : tensors) {
        if (!seen.insert(t.name).second) {
            return make_error("tensor '" + t.name + "' appears twice");
        }
    }
    return {};
}

// q4_K / q5_K / q6_K tensors decoded and re-encoded as q8_0 into derived buffers, so everything
// past this point sees only types Ravel has kernels for. q8_0's rounding (half a step of its
// block's largest value / 127) is finer than the 4-6 bit grids these were quantized to.
Result<void> reencode_kquants(GgufFile& g, std::span<const std::byte> file, DerivedTensors& derived,
                              const std::function<void(std::span<const std::byte>)>& done_with) {
    std::vector<float> values(kKQuantBlock);
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        const auto block_bytes = kquant_block_bytes(g.ggml_types[i]);
        if (!block_bytes) continue;
        TensorInfo& t = g.tensors[i];
        const auto elements = static_cast<std::uint64_t>(t.elements());
        const auto q8_bytes = dtype_bytes_for(DType::Q8_0, elements);
        if (!q8_bytes) return make_error("tensor '" + t.name + "' is too large to re-encode");
        auto alloc = derived.allocate(*q8_bytes);
        const std::byte* src = file.data() + t.offset;
        std::byte* dst = alloc.bytes.data();
        const std::size_t out_bytes = *dtype_bytes_for(DType::Q8_0, kKQuantBlock);
        for (std::uint64_t b = 0; b < elements / kKQuantBlock; ++b) {
            dequantize_kquant(g.ggml_types[i], src, values);
            for (const float v : values) {
                if (!std::isfinite(v)) {
                    return make_error("tensor '" + t.name + "' (" +
                                      ggml_type_name(g.ggml_types[i]) +
                                      ") has a block whose "
                                      "scales are not finite numbers; the file is corrupt");
                }
            }
            if (auto r = quantize_row(DType::Q8_0, values.data(), kKQuantBlock, dst); !r) {
                return make_error("tensor '" + t.name + "': " + r.message());
            }
            src += *block_bytes;
            dst += out_bytes;
        }
        if (done_with) done_with(file.subspan(t.offset, t.nbytes));
        t.offset = alloc.offset;
        t.nbytes = *q8_bytes;
    }
    return {};
}

}  // namespace

Result<GgufWeights> read_gguf(std::span<const std::byte> file,
                              const std::function<void(std::span<const std::byte>)>& done_with) {
    auto parsed = parse_gguf(file);
    if (!parsed) return parsed.error();
    GgufFile& g = *parsed;
    if (auto r = check_unique(g.tensors); !r) return r.error();
    auto derived = std::make_shared<DerivedTensors>(file.size());
    if (auto r = reencode_kquants(g, file, *derived, done_with); !r) return r.error();

    GgufWeights out;
    for (const auto& [key, value] : g.kv) out.parsed.metadata[key] = value.to_text();

    const auto arch = g.get_string("general.architecture");
    if (!arch) {
        return make_error(
            "GGUF file has no general.architecture string, so its tensors cannot "
            "be interpreted");
    }
    if (*arch == kRavelGgufArch) {
        const auto version = g.get_uint("ravel.format_version");
        if (!version || *version == 0) {
            return make_error(
                "Ravel GGUF file has no valid ravel.format_version; it is damaged or was not "
                "written by ravel-cli convert");
        }
        if (*version > kRavelGgufFormatVersion) {
            return make_error("Ravel GGUF format version " + std::to_string(*version) +
                              " is not supported (this build reads version " +
                              std::to_string(kRavelGgufFormatVersion) +
                              "); it was written by a newer Ravel");
        }
        out.parsed.tensors = g.tensors;
        if (!derived->empty()) out.derived = std::move(derived);
        return out;
    }
    if (*arch == "rwkv6" || *arch == "rwkv7") {
        auto mapped = map_llama_rwkv(g, file, *arch == "rwkv6" ? 6 : 7, *derived);
        if (!mapped)
            return make_error("llama.cpp " + std::string(*arch) + " GGUF: " + mapped.message());
        out.parsed.tensors = std::move(*mapped);
        if (!derived->empty()) out.derived = std::move(derived);
        // Expose llama.cpp's World vocabulary the way Ravel's own files carry theirs.
        if (g.get_string("tokenizer.ggml.model") == std::optional<std::string_view>("rwkv") &&
            g.find("tokenizer.ggml.tokens") != nullptr) {
            auto vocab = llama_rwkv_vocab_text(g);
            if (!vocab)
                return make_error("llama.cpp " + std::string(*arch) + " GGUF: " + vocab.message());
            out.parsed.metadata["tokenizer.ravel.kind"] = "world";
            out.parsed.metadata["tokenizer.ravel.vocab_file_name"] = "rwkv_vocab_v20230424.txt";
            out.parsed.metadata["tokenizer.ravel.vocab_file"] = std::move(*vocab);
        }
        return out;
    }
    return make_error("GGUF architecture '" + std::string(*arch) +
                      "' is not supported (Ravel reads RWKV: its own 'ravel-rwkv' files and "
                      "llama.cpp's 'rwkv6' and 'rwkv7'; hybrids such as rwkv6qwen2 and arwkv7 "
                      "are not supported)");
}

}  // namespace ravel::format
