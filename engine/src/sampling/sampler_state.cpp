// The sampler's part of the resume record. Layout (little-endian):
//   "RVSM"  u32 version  u64 accepted_tokens  4 x u64 generator state
//   u32 entry count, then per entry { i32 token, f32 weight }, tokens strictly increasing.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "ravel/sampler.hpp"

namespace ravel {

namespace {
constexpr std::uint32_t kVersion = 1;
constexpr char kMagic[4] = {'R', 'V', 'S', 'M'};
constexpr std::size_t kHeaderBytes = 4 + 4 + 8 + 4 * 8 + 4;
constexpr std::size_t kEntryBytes = 8;

template <class T>
void put(std::vector<std::byte>& out, T value) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        out.push_back(
            static_cast<std::byte>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff));
    }
}

class Reader {
  public:
    explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}
    std::size_t remaining() const { return bytes_.size() - pos_; }
    template <class T>
    T get() {  // callers check remaining() first
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            v |= static_cast<std::uint64_t>(bytes_[pos_ + i]) << (8 * i);
        }
        pos_ += sizeof(T);
        return static_cast<T>(v);
    }
    bool magic() {
        const bool ok = std::memcmp(bytes_.data() + pos_, kMagic, 4) == 0;
        pos_ += 4;
        return ok;
    }

  private:
    std::span<const std::byte> bytes_;
    std::size_t pos_ = 0;
};
}  // namespace

std::vector<std::byte> Sampler::save() const {
    std::vector<std::pair<std::int32_t, float>> entries(weights_.begin(), weights_.end());
    // The table is a hash map; sorting makes the bytes identical on every machine.
    std::sort(entries.begin(), entries.end());
    std::vector<std::byte> out;
    out.reserve(kHeaderBytes + entries.size() * kEntryBytes);
    for (char c : kMagic) out.push_back(static_cast<std::byte>(c));
    put<std::uint32_t>(out, kVersion);
    put<std::uint64_t>(out, accepted_);
    for (auto word : rng_.state()) put<std::uint64_t>(out, word);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(entries.size()));
    for (const auto& [token, weight] : entries) {
        put<std::uint32_t>(out, static_cast<std::uint32_t>(token));
        put<std::uint32_t>(out, std::bit_cast<std::uint32_t>(weight));
    }
    return out;
}

Result<Sampler> Sampler::restore(SamplerSettings settings, std::span<const std::byte> bytes,
                                 std::shared_ptr<const std::vector<bool>> penalty_exempt) {
    if (auto r = settings.validate(); !r) return r.error();
    const auto fail = [](const std::string& what) { return make_error("sampler record: " + what); };
    if (bytes.size() < kHeaderBytes) {
        return fail("truncated (" + std::to_string(bytes.size()) + " bytes, header needs " +
                    std::to_string(kHeaderBytes) + ")");
    }
    Reader in(bytes);
    if (!in.magic()) return fail("bad magic (not a sampler record)");
    const auto version = in.get<std::uint32_t>();
    if (version != kVersion) {
        return fail("unsupported version " + std::to_string(version) + " (this build reads " +
                    std::to_string(kVersion) + ")");
    }
    Sampler sampler(std::move(settings));
    sampler.accepted_ = in.get<std::uint64_t>();
    std::array<std::uint64_t, 4> state{};
    for (auto& word : state) word = in.get<std::uint64_t>();
    if (!sampler.rng_.set_state(state)) return fail("random generator state is all zero");
    const auto count = in.get<std::uint32_t>();
    if (in.remaining() != static_cast<std::uint64_t>(count) * kEntryBytes) {
        return fail("penalty table claims " + std::to_string(count) + " entries (" +
                    std::to_string(static_cast<std::uint64_t>(count) * kEntryBytes) +
                    " bytes) but " + std::to_string(in.remaining()) + " bytes follow");
    }
    sampler.weights_.reserve(count);  // bounded by the input size checked above
    std::int64_t previous = -1;
    for (std::uint32_t i = 0; i < count; ++i) {
        const auto token = static_cast<std::int32_t>(in.get<std::uint32_t>());
        const float weight = std::bit_cast<float>(in.get<std::uint32_t>());
        if (token < 0 || token <= previous) {
            return fail("penalty table entry " + std::to_string(i) + " has token " +
                        std::to_string(token) + " (ids must be >= 0 and strictly increasing)");
        }
        if (!std::isfinite(weight) || !(weight > 0.0f)) {
            return fail("penalty table entry " + std::to_string(i) + " has weight " +
                        std::to_string(weight) + " (must be finite and > 0)");
        }
        sampler.weights_.emplace(token, weight);
        previous = token;
    }
    sampler.exempt_ = std::move(penalty_exempt);
    return sampler;
}

}  // namespace ravel
