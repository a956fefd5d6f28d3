// The fingerprint cache file is input like any other: it may be truncated, hand-edited or
// written by another build. Anything that does not parse is ignored, never trusted.
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "ravel/model_fingerprint.hpp"
#include "ravel/tokenizer.hpp"

namespace ravel {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uintmax_t kMaxCacheBytes = 1 << 20;

struct Key {
    std::string path;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
};

std::optional<Key> key_for(const fs::path& model_path) {
    std::error_code ec;
    const fs::path canon = fs::canonical(model_path, ec);
    if (ec) return std::nullopt;
    const auto size = fs::file_size(canon, ec);
    if (ec) return std::nullopt;
    const auto mtime = fs::last_write_time(canon, ec);
    if (ec) return std::nullopt;
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
    return Key{canon.string(), static_cast<std::uint64_t>(size), static_cast<std::int64_t>(ns)};
}

json read_entries(const fs::path& file) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec || size > kMaxCacheBytes) return json::array();
    std::ifstream in(file, std::ios::binary);
    json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) return json::array();
    // Looked at by hand: value() throws where "scheme" holds something other than a number.
    auto scheme = doc.find("scheme");
    if (scheme == doc.end() || !scheme->is_number_integer() ||
        scheme->get<std::int64_t>() != kFingerprintScheme) {
        return json::array();
    }
    auto it = doc.find("entries");
    if (it == doc.end() || !it->is_array()) return json::array();
    return *it;
}

bool matches(const json& e, const Key& k) {
    if (!e.is_object()) return false;
    auto p = e.find("path"), s = e.find("size"), m = e.find("mtime_ns");
    return p != e.end() && p->is_string() && *p == k.path && s != e.end() &&
           s->is_number_unsigned() && s->get<std::uint64_t>() == k.size && m != e.end() &&
           m->is_number_integer() && m->get<std::int64_t>() == k.mtime_ns;
}

}  // namespace

FingerprintCache::FingerprintCache(fs::path file) : file_(std::move(file)) {}

fs::path FingerprintCache::default_path() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/') {
        return fs::path(x) / "ravel" / "fingerprints.json";
    }
    if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/') {
        return fs::path(h) / ".cache" / "ravel" / "fingerprints.json";
    }
    std::error_code ec;
    const fs::path tmp = fs::temp_directory_path(ec);
    return (ec ? fs::path("/tmp") : tmp) / "ravel-fingerprints.json";
}

std::optional<ModelFingerprint> FingerprintCache::lookup(const fs::path& model_path) const {
    const auto key = key_for(model_path);
    if (!key) return std::nullopt;
    for (const auto& e : read_entries(file_)) {
        if (!matches(e, *key)) continue;
        auto f = e.find("fingerprint");
        if (f == e.end() || !f->is_string()) return std::nullopt;
        return ModelFingerprint::from_hex(f->get<std::string>());
    }
    return std::nullopt;
}

void FingerprintCache::store(const fs::path& model_path, const ModelFingerprint& fingerprint) {
    const auto key = key_for(model_path);
    // A path that is not UTF-8 (Linux allows any bytes) cannot be written into JSON, whose
    // dump() would throw; such a model is fingerprinted at every load instead.
    if (!key || first_invalid_utf8(key->path).has_value()) return;
    json kept = json::array();
    for (const auto& e : read_entries(file_)) {
        // Drops the stale entry for the same path (the file changed) and malformed ones.
        if (!e.is_object() || !e.contains("path") || e["path"] == key->path) continue;
        kept.push_back(e);
    }
    kept.push_back({{"path", key->path},
                    {"size", key->size},
                    {"mtime_ns", key->mtime_ns},
                    {"fingerprint", fingerprint.hex()}});
    while (kept.size() > kMaxEntries) kept.erase(kept.begin());
    const json doc = {{"scheme", kFingerprintScheme}, {"entries", kept}};

    // Write beside the target and rename, so a reader never sees a half-written file.
    std::error_code ec;
    fs::create_directories(file_.parent_path(), ec);
    const fs::path tmp = file_.string() + ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return;
        out << doc.dump(1);
        if (!out.flush()) return;
    }
    fs::rename(tmp, file_, ec);
    if (ec) fs::remove(tmp, ec);
}

Result<ModelFingerprint> FingerprintCache::get_or_compute(
    const WeightFile& file, const ModelConfig& config,
    const std::function<bool(double)>& progress) {
    if (auto hit = lookup(file.path())) return *hit;
    auto fp = compute_fingerprint(file, config, progress);
    if (fp) store(file.path(), *fp);
    return fp;
}

}  // namespace ravel
