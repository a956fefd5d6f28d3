// libFuzzer entry point for state snapshots read back from a database or an imported file: the
// resume record and the sampler record inside it. The first byte's low bit asks the harness to
// write a correct checksum over the rest first, so mutations reach the sections behind it; the
// rest is the blob. A record that decodes must encode to bytes that decode and encode to the same
// bytes, and a sampler that restores must save and restore to the same bytes. Seeds:
// tests/fuzz/seeds/resume_record (a v4 and a v7 record, checksums left to the harness).
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "ravel/resume_record.hpp"
#include "ravel/sampler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::vector<std::byte> blob(size - 1);
    if (!blob.empty()) std::memcpy(blob.data(), data + 1, blob.size());
    if ((data[0] & 1) != 0 && blob.size() >= 8) {
        const std::uint64_t sum = XXH3_64bits(blob.data(), blob.size() - 8);
        std::memcpy(blob.data() + blob.size() - 8, &sum, 8);
    }
    ravel::DecodeLimits limits;
    limits.max_bytes = std::uint64_t{64} << 20;
    auto record = ravel::decode_resume_record(blob, limits);
    if (!record.ok()) return 0;
    const ravel::ResumeBlob again = ravel::encode_resume_record(*record);
    // Compared as bytes: a stored NaN is kept bit for bit but is unequal to itself as a float.
    auto decoded = ravel::decode_resume_record(again, limits);
    if (!decoded.ok() || ravel::encode_resume_record(*decoded) != again) __builtin_trap();

    auto sampler = ravel::Sampler::restore(ravel::SamplerSettings{}, record->sampler);
    if (!sampler.ok()) return 0;
    const std::vector<std::byte> saved = sampler->save();
    auto restored = ravel::Sampler::restore(ravel::SamplerSettings{}, saved);
    if (!restored.ok() || restored->save() != saved) __builtin_trap();
    return 0;
}
