// Re-encoding a GGUF's q4_K / q5_K tensors as q5_1 and q6_K tensors as q8_0 at open (see
// kquant.hpp for why).
// Super-blocks are independent, so the work is shared by a few threads (parallel_items.hpp):
// the whole model passes through here at every open of such a file.
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

struct Job {
    std::size_t tensor;  // index into GgufFile::tensors
    std::uint32_t type;
    DType to;  // q5_1 or q8_0
    const std::byte* src;
    std::byte* dst;
    std::uint64_t blocks;
    std::uint64_t derived_offset;  // where the re-encoded bytes live (DerivedTensors offset)
    std::uint64_t derived_bytes;
};

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

}  // namespace

Result<std::string> reencode_kquants(
    GgufFile& g, std::span<const std::byte> file, DerivedTensors& derived,
    const std::function<void(std::span<const std::byte>)>& done_with) {
    std::vector<Job> jobs;
    std::uint64_t total_claims = 0;
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        if (!kquant_block_bytes(g.ggml_types[i])) continue;
        const TensorInfo& t = g.tensors[i];
        const auto elements = static_cast<std::uint64_t>(t.elements());
        const DType to = kquant_fits_q5_1(g.ggml_types[i]) ? DType::Q5_1 : DType::Q8_0;
        const auto bytes = dtype_bytes_for(to, elements);
        if (!bytes) return make_error("tensor '" + t.name + "' is too large to re-encode");
        // Once the loader has copied it the buffer may be released; it is then re-encoded
        // from the file again if read (the mapping outlives every read: find() is reached
        // through the WeightFile that holds both).
        const std::uint32_t type = g.ggml_types[i];
        const std::byte* src = file.data() + t.offset;
        const std::uint64_t blocks = elements / kKQuantBlock;
        auto alloc = derived.allocate(*bytes, [type, to, src, blocks](std::span<std::byte> dst) {
            return reencode_blocks(type, to, src, 0, blocks, dst.data());
        });
        jobs.push_back({i, type, to, src, alloc.bytes.data(), blocks, alloc.offset, *bytes});
        total_claims += (jobs.back().blocks + kBlocksPerClaim - 1) / kBlocksPerClaim;
    }
    if (jobs.empty()) return std::string();

    // Claims are (job, first block) pairs taken in order from one counter.
    std::vector<std::pair<std::size_t, std::uint64_t>> claims;
    claims.reserve(total_claims);
    for (std::size_t j = 0; j < jobs.size(); ++j) {
        for (std::uint64_t b = 0; b < jobs[j].blocks; b += kBlocksPerClaim)
            claims.emplace_back(j, b);
    }
    // At least four claims per thread: starting one costs about as much as a claim.
    const std::size_t workers =
        std::min(item_workers(claims.size()), std::max<std::size_t>(claims.size() / 4, 1));
    auto reencoded = for_each_item(claims.size(), workers, [&](std::size_t, std::size_t c) {
        const Job& job = jobs[claims[c].first];
        const std::uint64_t begin = claims[c].second;
        const std::uint64_t end = std::min(job.blocks, begin + kBlocksPerClaim);
        const bool ok = reencode_blocks(job.type, job.to, job.src, begin, end, job.dst);
        // The file's pages are given back claim by claim: held until the end, the whole file
        // stayed mapped beside its re-encoding (260 MB at the peak for a 130 MB q4_K_M file).
        if (done_with) {
            const std::size_t in_block = *kquant_block_bytes(job.type);
            done_with(
                {job.src + begin * in_block, static_cast<std::size_t>(end - begin) * in_block});
        }
        if (!ok) {
            return Result<void>(make_error(
                "tensor '" + g.tensors[job.tensor].name + "' (" + ggml_type_name(job.type) +
                ") has a block whose scales are not finite numbers" +
                (job.to == DType::Q5_1 ? " within f16's range" : "") + "; the file is corrupt"));
        }
        return Result<void>();
    });
    if (!reencoded) return reencoded.error();

    std::map<std::string, int> counts;
    for (const Job& job : jobs) {
        TensorInfo& t = g.tensors[job.tensor];
        t.offset = job.derived_offset;
        t.nbytes = job.derived_bytes;
        t.dtype = job.to;
        ++counts[std::string(ggml_type_name(job.type)) + " as " + std::string(dtype_name(job.to))];
    }
    std::string summary;
    for (const auto& [type, n] : counts) {
        summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + type;
    }
    return summary;
}

}  // namespace ravel::format
