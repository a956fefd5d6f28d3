// Re-encoding a GGUF's q4_K / q5_K tensors as q5_1 and q6_K tensors as q8_0 (see kquant.hpp
// for why), deferred to a tensor's first read: opening a file (to describe it, or before a
// load that reports progress and can be cancelled) costs nothing for them, and a loader that
// gives each tensor back once copied never holds more than one re-encoding beside the model.
// Super-blocks are independent, so each tensor's work is shared by a few threads
// (parallel_items.hpp).
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "format/gguf_weights.hpp"
#include "format/kquant.hpp"
#include "format/parallel_items.hpp"
#include "ravel/quant.hpp"

namespace ravel::format {

namespace {

// Super-blocks per claim: about 64K values, a few hundred microseconds of work.
constexpr std::uint64_t kBlocksPerClaim = 256;

// Re-encodes super-blocks [begin, end) of a tensor stored as `type` at `src` into `to` at
// `dst` (both tensors' starts). False where a block's scales are not finite (for q5_1: or
// beyond f16's range).
bool reencode_blocks(std::uint32_t type, DType to, const std::byte* src, std::uint64_t begin,
                     std::uint64_t end, std::byte* dst) {
    const std::size_t in_block = *kquant_block_bytes(type);
    const std::size_t out_block = *dtype_bytes_for(to, kKQuantBlock);
    if (to == DType::Q5_1) {
        return kquant_to_q5_1(type, src + begin * in_block, end - begin, dst + begin * out_block);
    }
    std::array<float, kKQuantBlock> values;
    for (std::uint64_t b = begin; b < end; ++b) {
        dequantize_kquant(type, src + b * in_block, values);
        if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); }))
            return false;
        if (!quantize_row(DType::Q8_0, values.data(), kKQuantBlock, dst + b * out_block))
            return false;
    }
    return true;
}

// One tensor's re-encoding, run when the tensor is first read (and again after a release).
struct Reencoding {
    std::string name;
    std::uint32_t type;
    DType to;  // q5_1 or q8_0
    const std::byte* src;
    std::uint64_t blocks;
    std::function<void(std::span<const std::byte>)> done_with;

    Result<void> operator()(std::span<std::byte> dst) const {
        const std::uint64_t claims = (blocks + kBlocksPerClaim - 1) / kBlocksPerClaim;
        // At least four claims per thread: starting one costs about as much as a claim.
        const std::size_t workers = std::min(item_workers(static_cast<std::size_t>(claims)),
                                             std::max<std::size_t>(claims / 4, 1));
        return for_each_item(claims, workers, [&](std::size_t, std::size_t c) -> Result<void> {
            const std::uint64_t begin = c * kBlocksPerClaim;
            const std::uint64_t end = std::min(blocks, begin + kBlocksPerClaim);
            const bool ok = reencode_blocks(type, to, src, begin, end, dst.data());
            // The file's pages are given back claim by claim: the re-encoding is what the
            // loader reads, and the page cache keeps the file for a later rebuild.
            if (done_with) {
                const std::size_t in_block = *kquant_block_bytes(type);
                done_with(
                    {src + begin * in_block, static_cast<std::size_t>(end - begin) * in_block});
            }
            if (ok) return {};
            return make_error("tensor '" + name + "' (" + std::string(ggml_type_name(type)) +
                              ") has a block whose scales are not finite numbers" +
                              (to == DType::Q5_1 ? " within f16's range" : "") +
                              "; the file is corrupt");
        });
    }
};

}  // namespace

Result<std::string> defer_kquant_reencoding(
    GgufFile& g, std::span<const std::byte> file, DerivedTensors& derived,
    const std::function<void(std::span<const std::byte>)>& done_with) {
    std::map<std::string, int> counts;
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        if (!kquant_block_bytes(g.ggml_types[i])) continue;
        TensorInfo& t = g.tensors[i];
        const auto elements = static_cast<std::uint64_t>(t.elements());
        const DType to = kquant_fits_q5_1(g.ggml_types[i]) ? DType::Q5_1 : DType::Q8_0;
        const auto bytes = dtype_bytes_for(to, elements);
        if (!bytes) return make_error("tensor '" + t.name + "' is too large to re-encode");
        const std::uint32_t type = g.ggml_types[i];
        // The mapping outlives every read: find() is reached through the WeightFile that holds
        // both.
        Reencoding reencoding{t.name,   type, to, file.data() + t.offset, elements / kKQuantBlock,
                              done_with};
        t.offset = derived.defer(*bytes, std::move(reencoding));
        t.nbytes = *bytes;
        t.dtype = to;
        ++counts[std::string(ggml_type_name(type)) + " as " + std::string(dtype_name(to))];
    }
    std::string summary;
    for (const auto& [type, n] : counts) {
        summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + type;
    }
    return summary;
}

}  // namespace ravel::format
