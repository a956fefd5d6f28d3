#include "format/gguf_weights.hpp"

#include <set>
#include <string>
#include <vector>

#include "ravel/gguf.hpp"

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

}  // namespace

Result<GgufWeights> read_gguf(std::span<const std::byte> file,
                              std::function<void(std::span<const std::byte>)> done_with) {
    auto parsed = parse_gguf(file);
    if (!parsed) return parsed.error();
    GgufFile& g = *parsed;
    if (auto r = check_unique(g.tensors); !r) return r.error();
    auto derived = std::make_shared<DerivedTensors>(file.size());
    auto reencoded = defer_kquant_reencoding(g, file, *derived, done_with);
    if (!reencoded) return reencoded.error();

    GgufWeights out;
    for (const auto& [key, value] : g.kv) out.parsed.metadata[key] = value.to_text();
    if (!reencoded->empty()) out.parsed.metadata[std::string(kGgufReencoded)] = *reencoded;

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
