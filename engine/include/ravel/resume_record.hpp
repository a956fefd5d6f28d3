// The resume record: everything needed to continue a conversation as if it had never stopped
// (DESIGN.md section 5). It is the byte blob stored as a snapshot, so decode() treats its input
// as hostile: every length is checked against the bytes that remain before anything is
// allocated, and the checksum is verified before any field is trusted.
//
// Layout (little-endian):
//   "RAVELSNP"                     8 bytes magic
//   u32 format_version             kResumeRecordVersion
//   u32 section_count
//   section_count x { u32 tag, u32 reserved (0), u64 length, length bytes }
//   u64 XXH3-64 of every byte before it
// Sections: "CONF" model shape, "META" token count + fingerprint + tokenizer id, "STAT" state
// floats, "LOGT" last logits, "SAMP" the sampler's opaque blob. Each required section appears
// exactly once; unknown tags are skipped so a later minor addition does not break old readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ravel/large_allocator.hpp"
#include "ravel/model.hpp"
#include "ravel/model_fingerprint.hpp"
#include "ravel/result.hpp"
#include "ravel/state.hpp"

namespace ravel {

inline constexpr std::uint32_t kResumeRecordVersion = 1;

struct ResumeRecord {
    State state;                     // carries the model shape it was made for
    std::vector<float> logits;       // after the last processed token (may be empty)
    std::vector<std::byte> sampler;  // Sampler::save(), opaque here
    std::uint64_t token_count = 0;   // tokens processed to reach `state`
    ModelFingerprint model;          // which weights produced `state`
    std::string tokenizer_id;        // e.g. "world", "byte"

    bool operator==(const ResumeRecord& other) const = default;
};

// A record's bytes: in huge pages where large, like the state they hold
// (ravel/large_allocator.hpp), since a fresh blob is written whole at once.
using ResumeBlob = std::vector<std::byte, LargeAllocator<std::byte>>;

ResumeBlob encode_resume_record(const ResumeRecord& record);

struct DecodeLimits {
    // Upper bound on the blob size accepted (guards the allocations a hostile header asks for).
    std::uint64_t max_bytes = std::uint64_t{8} << 30;
};

// Parses and verifies a blob. Fails with a message naming what is wrong (magic, version,
// checksum, a section's length, a shape mismatch) and never allocates more than the blob holds.
Result<ResumeRecord> decode_resume_record(std::span<const std::byte> blob,
                                          const DecodeLimits& limits = {});

// A decoded record is usable with a model when the model fingerprint and state shape agree.
Result<void> check_record_fits(const ResumeRecord& record, const ModelConfig& config,
                               const ModelFingerprint& model);

}  // namespace ravel
