#include <xxhash.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ravel/model_fingerprint.hpp"

namespace ravel {

namespace {

struct StateDeleter {
    void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};

ModelFingerprint from_hash(XXH128_hash_t h) {
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, h);
    ModelFingerprint fp;
    std::copy(std::begin(canon.digest), std::end(canon.digest), fp.bytes.begin());
    return fp;
}

std::string describe(const ModelConfig& c) {
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "literal" +
    // std::to_string(...).
    std::string s = "ravel-fingerprint/";
    s += std::to_string(kFingerprintScheme);
    s += "\n";
    s += "arch=" + std::string(arch_name(c.arch));
    const int fields[] = {c.n_layer,  c.n_embd,     c.n_vocab, c.dim_ffn, c.n_head, c.head_size,
                          c.lora_mix, c.lora_decay, c.lora_w,  c.lora_a,  c.lora_v, c.lora_g};
    for (int f : fields) {
        s += ',';
        s += std::to_string(f);
    }
    s += "\n";
    return s;
}

}  // namespace

std::string ModelFingerprint::hex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    s.reserve(32);
    for (std::uint8_t b : bytes) {
        s.push_back(kDigits[b >> 4]);
        s.push_back(kDigits[b & 15]);
    }
    return s;
}

std::optional<ModelFingerprint> ModelFingerprint::from_hex(std::string_view hex) {
    if (hex.size() != 32) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    ModelFingerprint fp;
    for (std::size_t i = 0; i < 16; ++i) {
        const int hi = nibble(hex[2 * i]);
        const int lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        fp.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return fp;
}

bool ModelFingerprint::empty() const {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

Result<ModelFingerprint> compute_fingerprint(const WeightFile& file, const ModelConfig& config,
                                             const std::function<bool(double)>& progress) {
    std::unique_ptr<XXH3_state_t, StateDeleter> st(XXH3_createState());
    XXH3_128bits_reset(st.get());
    const std::string head = describe(config);
    XXH3_128bits_update(st.get(), head.data(), head.size());

    // Name order makes the result independent of the order tensors sit in the container.
    std::vector<const TensorInfo*> order;
    order.reserve(file.tensors().size());
    std::uint64_t total = 0;
    for (const auto& t : file.tensors()) {
        order.push_back(&t);
        total += t.nbytes;
    }
    std::sort(order.begin(), order.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->name < b->name; });
    for (const TensorInfo* t : order) {
        const std::string line =
            t->name + " " + std::string(dtype_name(t->dtype)) + " " + t->shape_string() + "\n";
        XXH3_128bits_update(st.get(), line.data(), line.size());
    }
    std::uint64_t hashed = 0;
    for (const TensorInfo* t : order) {
        const auto bytes = file.bytes(*t);
        if (bytes.size() != t->nbytes) {
            // A K-quant block that does not decode, or a tensor past the end: read_f32 says
            // which. Hashed without it, the fingerprint would be cached for a file that does
            // not load.
            auto values = file.read_f32(*t);
            return make_error(values ? file.path().string() + ": tensor '" + t->name +
                                           "' could not be read"
                                     : values.message());
        }
        XXH3_128bits_update(st.get(), bytes.data(), bytes.size());
        hashed += t->nbytes;
        if (progress && !progress(total == 0 ? 1.0 : static_cast<double>(hashed) / total)) {
            return cancelled_error();
        }
    }
    return from_hash(XXH3_128bits_digest(st.get()));
}

ModelFingerprint fingerprint_for_runtime(const ModelFingerprint& file_fingerprint,
                                         DType weight_type) {
    std::string input(file_fingerprint.bytes.begin(), file_fingerprint.bytes.end());
    input += "|weights=";
    input += dtype_name(weight_type);
    return from_hash(XXH3_128bits(input.data(), input.size()));
}

}  // namespace ravel
