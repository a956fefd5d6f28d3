#include "ravel/resume_record.hpp"

#include <xxhash.h>

#include <cstring>
#include <limits>
#include <string_view>

#include "snapshot/byte_io.hpp"

namespace ravel {

namespace {

using snapshot_detail::ByteReader;
using snapshot_detail::ByteWriter;

constexpr std::string_view kMagic = "RAVELSNP";
constexpr std::size_t kChecksumBytes = 8;
constexpr std::size_t kMinBlob = 8 + 4 + 4 + kChecksumBytes;
constexpr std::uint32_t kMaxSections = 64;
constexpr std::uint32_t kMaxTokenizerId = 256;
// Every shape field the CONF section carries, in order. Appending is compatible; reordering not.
constexpr std::uint32_t kConfigFields = 14;

std::uint32_t tag_of(std::string_view four) {
    std::uint32_t t = 0;
    std::memcpy(&t, four.data(), 4);
    return t;
}

const std::uint32_t kConf = tag_of("CONF");
const std::uint32_t kMeta = tag_of("META");
const std::uint32_t kStat = tag_of("STAT");
const std::uint32_t kLogt = tag_of("LOGT");
const std::uint32_t kSamp = tag_of("SAMP");

void section(ByteWriter& w, std::string_view tag, std::span<const std::byte> payload) {
    w.tag(tag);
    w.u32(0);
    w.u64(payload.size());
    w.raw(payload.data(), payload.size());
}

std::vector<std::int64_t> config_fields(const ModelConfig& c) {
    return {static_cast<std::int64_t>(c.arch),
            c.n_layer,
            c.n_embd,
            c.n_vocab,
            c.dim_ffn,
            c.n_head,
            c.head_size,
            c.lora_mix,
            c.lora_decay,
            c.lora_w,
            c.lora_a,
            c.lora_v,
            c.lora_g,
            c.n_params};
}

// Bounds that keep state_floats() far from overflow and reject nonsense before allocating.
Result<ModelConfig> config_from_fields(std::span<const std::int64_t> f) {
    auto in = [](std::int64_t v, std::int64_t lo, std::int64_t hi) { return v >= lo && v <= hi; };
    if (!in(f[0], 0, static_cast<std::int64_t>(Arch::V7))) {
        return make_error("resume record: unknown architecture code " + std::to_string(f[0]));
    }
    ModelConfig c;
    c.arch = static_cast<Arch>(f[0]);
    const std::int64_t max_dim = std::int64_t{1} << 20;
    for (std::size_t i = 1; i <= 12; ++i) {
        if (!in(f[i], 0, max_dim)) {
            return make_error("resume record: model shape field " + std::to_string(i) +
                              " out of range (" + std::to_string(f[i]) + ")");
        }
    }
    c.n_layer = static_cast<int>(f[1]);
    c.n_embd = static_cast<int>(f[2]);
    c.n_vocab = static_cast<int>(f[3]);
    c.dim_ffn = static_cast<int>(f[4]);
    c.n_head = static_cast<int>(f[5]);
    c.head_size = static_cast<int>(f[6]);
    c.lora_mix = static_cast<int>(f[7]);
    c.lora_decay = static_cast<int>(f[8]);
    c.lora_w = static_cast<int>(f[9]);
    c.lora_a = static_cast<int>(f[10]);
    c.lora_v = static_cast<int>(f[11]);
    c.lora_g = static_cast<int>(f[12]);
    c.n_params = f[13];
    if (c.n_layer < 1 || c.n_layer > 4096 || c.n_embd < 1 || c.n_vocab < 1) {
        return make_error("resume record: implausible model shape (layers " +
                          std::to_string(c.n_layer) + ", width " + std::to_string(c.n_embd) +
                          ", vocabulary " + std::to_string(c.n_vocab) + ")");
    }
    if (c.arch != Arch::V4 && static_cast<std::int64_t>(c.n_head) * c.head_size != c.n_embd) {
        return make_error("resume record: heads x head size (" + std::to_string(c.n_head) + " x " +
                          std::to_string(c.head_size) + ") does not equal the width " +
                          std::to_string(c.n_embd));
    }
    return c;
}

std::string shape_text(const ModelConfig& c) {
    std::string s = "RWKV-" + std::string(arch_name(c.arch)) + " " + std::to_string(c.n_layer) +
                    " layers x " + std::to_string(c.n_embd);
    if (c.n_head > 0)
        s += " (" + std::to_string(c.n_head) + "x" + std::to_string(c.head_size) + ")";
    s += ", vocabulary " + std::to_string(c.n_vocab);
    return s;
}

}  // namespace

ResumeBlob encode_resume_record(const ResumeRecord& record) {
    ByteWriter conf;
    conf.u32(kConfigFields);
    for (std::int64_t v : config_fields(record.state.config())) conf.i64(v);

    ByteWriter meta;
    meta.u64(record.token_count);
    meta.raw(record.model.bytes.data(), record.model.bytes.size());
    meta.u32(static_cast<std::uint32_t>(record.tokenizer_id.size()));
    meta.raw(record.tokenizer_id.data(), record.tokenizer_id.size());

    const auto state = record.state.values();
    const std::span<const float> logits(record.logits);
    constexpr std::size_t kSectionHeader = 16;  // tag, reserved word, 64-bit length
    constexpr std::uint32_t kSections = 5;
    ByteWriter w;
    // One allocation: growing through the state and then the logits copied the state twice
    // into fresh pages (a cold v7 0.1B record of 2.7 MB: 5.1-6.0 -> 2.6-3.9 ms).
    w.reserve(kMagic.size() + 8 + kSections * kSectionHeader + conf.bytes().size() +
              meta.bytes().size() + state.size_bytes() + logits.size_bytes() +
              record.sampler.size() + kChecksumBytes);
    w.raw(kMagic.data(), kMagic.size());
    w.u32(kResumeRecordVersion);
    w.u32(kSections);
    section(w, "CONF", conf.bytes());
    section(w, "META", meta.bytes());
    section(w, "STAT", std::as_bytes(state));
    section(w, "LOGT", std::as_bytes(logits));
    section(w, "SAMP", record.sampler);
    const std::uint64_t sum = XXH3_64bits(w.bytes().data(), w.bytes().size());
    w.u64(sum);
    return std::move(w.bytes());
}

Result<ResumeRecord> decode_resume_record(std::span<const std::byte> blob,
                                          const DecodeLimits& limits) {
    if (blob.size() < kMinBlob) {
        return make_error("resume record: too short (" + std::to_string(blob.size()) +
                          " bytes); the snapshot is truncated");
    }
    if (blob.size() > limits.max_bytes) {
        return make_error("resume record: " + std::to_string(blob.size()) +
                          " bytes exceeds the limit of " + std::to_string(limits.max_bytes));
    }
    if (std::memcmp(blob.data(), kMagic.data(), kMagic.size()) != 0) {
        return make_error("resume record: wrong magic (not a Ravel snapshot)");
    }
    ByteReader r(blob.first(blob.size() - kChecksumBytes));
    (void)r.take(kMagic.size());
    const std::uint32_t version = *r.scalar<std::uint32_t>();
    if (version != kResumeRecordVersion) {
        return make_error("resume record: format version " + std::to_string(version) +
                          ", this build reads version " + std::to_string(kResumeRecordVersion));
    }
    std::uint64_t stored_sum = 0;
    std::memcpy(&stored_sum, blob.data() + blob.size() - kChecksumBytes, kChecksumBytes);
    const std::uint64_t sum = XXH3_64bits(blob.data(), blob.size() - kChecksumBytes);
    if (sum != stored_sum) {
        return make_error("resume record: checksum mismatch; the snapshot is damaged");
    }

    const std::uint32_t count = *r.scalar<std::uint32_t>();
    if (count > kMaxSections) {
        return make_error("resume record: " + std::to_string(count) + " sections (limit " +
                          std::to_string(kMaxSections) + ")");
    }
    std::optional<std::span<const std::byte>> conf, meta, stat, logt, samp;
    for (std::uint32_t i = 0; i < count; ++i) {
        auto tag = r.scalar<std::uint32_t>();
        auto reserved = r.scalar<std::uint32_t>();
        auto length = r.scalar<std::uint64_t>();
        if (!tag || !reserved || !length)
            return make_error("resume record: truncated section header");
        auto payload = r.take(*length);
        if (!payload) {
            return make_error("resume record: section " + std::to_string(i) + " claims " +
                              std::to_string(*length) + " bytes but only " +
                              std::to_string(r.remaining()) + " remain");
        }
        std::optional<std::span<const std::byte>>* slot = nullptr;
        if (*tag == kConf) slot = &conf;
        if (*tag == kMeta) slot = &meta;
        if (*tag == kStat) slot = &stat;
        if (*tag == kLogt) slot = &logt;
        if (*tag == kSamp) slot = &samp;
        if (slot == nullptr) continue;  // a section from a later minor revision
        if (slot->has_value()) return make_error("resume record: a section appears twice");
        *slot = *payload;
    }
    if (r.remaining() != 0) return make_error("resume record: trailing bytes after the sections");
    if (!conf || !meta || !stat || !logt || !samp) {
        return make_error("resume record: a required section is missing");
    }

    // CONF
    ByteReader cr(*conf);
    auto nfields = cr.scalar<std::uint32_t>();
    if (!nfields || *nfields < kConfigFields || *nfields > 1024 ||
        cr.remaining() != std::uint64_t{*nfields} * 8) {
        return make_error("resume record: malformed model shape section");
    }
    std::vector<std::int64_t> fields(kConfigFields);
    for (auto& f : fields) f = *cr.scalar<std::int64_t>();
    auto config = config_from_fields(fields);
    if (!config) return config.error();

    ResumeRecord rec;
    // META
    ByteReader mr(*meta);
    auto tokens = mr.scalar<std::uint64_t>();
    auto fp = mr.take(rec.model.bytes.size());
    auto id_len = mr.scalar<std::uint32_t>();
    if (!tokens || !fp || !id_len || *id_len > kMaxTokenizerId || mr.remaining() != *id_len) {
        return make_error("resume record: malformed metadata section");
    }
    rec.token_count = *tokens;
    std::memcpy(rec.model.bytes.data(), fp->data(), rec.model.bytes.size());
    auto id = mr.take(*id_len);
    rec.tokenizer_id.assign(reinterpret_cast<const char*>(id->data()), id->size());

    // STAT: its length is bounded by the blob, so the state allocation is too.
    const std::size_t floats = config->state_floats();
    if (stat->size() != floats * sizeof(float)) {
        return make_error("resume record: state holds " + std::to_string(stat->size()) +
                          " bytes but " + shape_text(*config) + " needs " +
                          std::to_string(floats * sizeof(float)));
    }
    rec.state = State(*config);
    std::memcpy(rec.state.values().data(), stat->data(), stat->size());

    // LOGT: empty (nothing processed yet) or one row of the vocabulary.
    if (!logt->empty() && logt->size() != std::size_t(config->n_vocab) * sizeof(float)) {
        return make_error("resume record: logits hold " + std::to_string(logt->size()) +
                          " bytes, expected " + std::to_string(config->n_vocab) + " floats");
    }
    rec.logits.resize(logt->size() / sizeof(float));
    if (!logt->empty()) std::memcpy(rec.logits.data(), logt->data(), logt->size());

    rec.sampler.assign(samp->begin(), samp->end());
    return rec;
}

Result<void> check_record_fits(const ResumeRecord& record, const ModelConfig& config,
                               const ModelFingerprint& model) {
    if (!(record.model == model)) {
        return make_error("snapshot was made by another model (" + record.model.hex() +
                          ", this model is " + model.hex() + ")");
    }
    if (!record.state.fits(config)) {
        return make_error("snapshot state is for " + shape_text(record.state.config()) +
                          " but the model is " + shape_text(config));
    }
    if (!record.logits.empty() && record.logits.size() != std::size_t(config.n_vocab)) {
        return make_error("snapshot logits do not match the model's vocabulary");
    }
    return {};
}

}  // namespace ravel
