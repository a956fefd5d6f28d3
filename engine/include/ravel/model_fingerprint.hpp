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
#include <functional>
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

// Hashes the description and every tensor of `file` (reads all weight bytes once). `progress`
// gets the fraction of the bytes hashed after each tensor; returning false cancels (an error
// with ErrorCode::Cancelled). A tensor that cannot be read is an error, with read_f32's reason.
//
// A GGUF's K-quant tensors are re-encoded at their first read (WeightFile::bytes) and kept until
// a reader gives them back, as a model load does once it has copied each. So fingerprint before
// loading from the same WeightFile: the load then reuses the re-encodings and releases them one
// by one. After the load, every tensor would be re-encoded a second time and all of them held at
// once (a 0.1B q4_K_M file: 0.59 s and 367 MiB at the peak, against 0.43 s and 243 MiB).
Result<ModelFingerprint> compute_fingerprint(const WeightFile& file, const ModelConfig& config,
                                             const std::function<bool(double)>& progress = {});

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
    // Looks up `model_path`; on a miss computes the fingerprint (compute_fingerprint, with
    // `progress`) and stores it. A failed or cancelled computation stores nothing.
    Result<ModelFingerprint> get_or_compute(const WeightFile& file, const ModelConfig& config,
                                            const std::function<bool(double)>& progress = {});
    std::optional<ModelFingerprint> lookup(const std::filesystem::path& model_path) const;
    void store(const std::filesystem::path& model_path, const ModelFingerprint& fingerprint);

    // Entries kept; the oldest are dropped beyond this.
    static constexpr std::size_t kMaxEntries = 256;

  private:
    std::filesystem::path file_;
};

}  // namespace ravel
