// Model fingerprints: which weights produced a state. A snapshot made by other weights (another
// model, another quantisation) cannot be resumed exactly, so it is identified and rebuilt.
//
// The fingerprint is an XXH3-128 over a canonical description of the architecture (version and
// every shape field of ModelConfig), each tensor's name, dtype and shape in name order, and the
// tensors' raw bytes in that order. It is independent of the container: the same tensors in a
// .pth and a .safetensors file give the same fingerprint.
//
// Hashing a multi-gigabyte file takes seconds, so results are cached per file in a small JSON
// file keyed by (canonical path, size, modification time). The cache lives with the engine, not
// in the conversation database, because a fingerprint describes a model file: every database
// (the app's, each `ravel-cli chat --db`) shares it, and the engine stays free of SQL.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ravel/model.hpp"
#include "ravel/result.hpp"
#include "ravel/tensor.hpp"
#include "ravel/weight_file.hpp"

namespace ravel {

struct ModelFingerprint {
    std::array<std::uint8_t, 16> bytes{};

    std::string hex() const;  // 32 lowercase hex digits
    static std::optional<ModelFingerprint> from_hex(std::string_view hex);
    bool empty() const;  // all zero: no fingerprint
    bool operator==(const ModelFingerprint&) const = default;
};

// Bumped when the hashing scheme changes so cached values from older builds are not reused.
inline constexpr int kFingerprintScheme = 1;

// Hashes the description and every tensor of `file` (reads all weight bytes once).
ModelFingerprint compute_fingerprint(const WeightFile& file, const ModelConfig& config);

// The fingerprint of the weights as a session runs them: a model loaded with another weight
// type gives different logits, so its snapshots must not be mixed with the original's.
ModelFingerprint fingerprint_for_runtime(const ModelFingerprint& file_fingerprint,
                                         DType weight_type);

// A JSON cache of fingerprints, keyed by (canonical path, size, mtime in ns). A missing or
// unreadable cache file is treated as empty; a failed write is not an error (it is a cache).
class FingerprintCache {
  public:
    explicit FingerprintCache(std::filesystem::path file);
    // $XDG_CACHE_HOME/ravel/fingerprints.json, else ~/.cache/ravel/fingerprints.json.
    static std::filesystem::path default_path();

    const std::filesystem::path& file() const { return file_; }
    // Looks up `model_path`; computes and stores the fingerprint on a miss.
    Result<ModelFingerprint> get_or_compute(const WeightFile& file, const ModelConfig& config);
    std::optional<ModelFingerprint> lookup(const std::filesystem::path& model_path) const;
    void store(const std::filesystem::path& model_path, const ModelFingerprint& fingerprint);

    // Entries kept; the oldest are dropped beyond this.
    static constexpr std::size_t kMaxEntries = 256;

  private:
    std::filesystem::path file_;
};

}  // namespace ravel
