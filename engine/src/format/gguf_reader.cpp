#include "format/gguf_reader.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "format/kquant.hpp"
#include "format/le_bytes.hpp"
#include "format/shape_check.hpp"

namespace ravel::format {

namespace {

// Counts read from a header are checked against the bytes left, which for a large file allows
// far more entries than any model has: each parsed entry also costs several times its bytes in
// memory. So counts have fixed ceilings far above real files (an RWKV model has a few thousand
// tensors and a vocabulary of at most a few hundred thousand strings), and capacity is reserved
// only up to a modest count, growing as entries actually parse.
constexpr std::uint64_t kMaxReserve = 1u << 16;
constexpr std::uint64_t kMaxTensors = 1u << 20;
constexpr std::uint64_t kMaxEntries = 1u << 20;  // metadata keys
constexpr std::uint64_t kMaxArrayStrings = 1u << 24;

// The bytes of a q4_K / q5_K / q6_K tensor (its rows already checked to hold whole blocks).
Result<std::uint64_t> checked_kquant_bytes(const TensorInfo& t, std::uint32_t ggml_type,
                                           std::uint64_t max_bytes) {
    const std::string what = "tensor '" + t.name + "': shape " + shape_to_string(t.shape) + " of " +
                             ggml_type_name(ggml_type);
    std::uint64_t elements = 1;
    for (auto d : t.shape) {
        if (d < 0) return make_error(what + " has a negative dimension");
        if (__builtin_mul_overflow(elements, static_cast<std::uint64_t>(d), &elements)) {
            return make_error(what + " is too large (more than 2^64 elements)");
        }
    }
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(elements / kKQuantBlock, *kquant_block_bytes(ggml_type), &bytes)) {
        return make_error(what + " is too large");
    }
    if (bytes > max_bytes) {
        return make_error(what + " needs " + std::to_string(bytes) + " bytes, more than the " +
                          std::to_string(max_bytes) + " bytes available");
    }
    return bytes;
}

// Nested arrays are legal GGUF but no RWKV file uses them; a small bound keeps a hostile file
// from recursing deeply.
constexpr int kMaxArrayDepth = 3;
// Arrays longer than this are kept as a count only in the printable form.
constexpr std::uint64_t kMaxListed = 16;

std::size_t fixed_size(GgufValueType t) {
    switch (t) {
        case GgufValueType::U8:
        case GgufValueType::I8:
        case GgufValueType::Bool:
            return 1;
        case GgufValueType::U16:
        case GgufValueType::I16:
            return 2;
        case GgufValueType::U32:
        case GgufValueType::I32:
        case GgufValueType::F32:
            return 4;
        case GgufValueType::U64:
        case GgufValueType::I64:
        case GgufValueType::F64:
            return 8;
        case GgufValueType::String:
        case GgufValueType::Array:
            return 0;
    }
    return 0;
}

bool known_type(std::uint32_t t) {
    return t <= 12;
}

// Reads forward through the header; every read is checked against the end of the file.
class Cursor {
  public:
    explicit Cursor(std::span<const std::byte> b) : b_(b) {}

    std::uint64_t pos() const { return pos_; }
    std::uint64_t left() const { return b_.size() - pos_; }
    const std::byte* here() const { return b_.data() + pos_; }

    Result<void> need(std::uint64_t n, std::string_view what) const {
        if (n > left()) {
            return make_error("the file ends inside the header (" + std::string(what) +
                              " at byte " + std::to_string(pos_) + " needs " + std::to_string(n) +
                              " bytes, only " + std::to_string(left()) +
                              " remain); the file is truncated or not GGUF");
        }
        return {};
    }
    Result<std::uint32_t> u32(std::string_view what) {
        if (auto r = need(4, what); !r) return r.error();
        const auto v = load_u32(here());
        pos_ += 4;
        return v;
    }
    Result<std::uint64_t> u64(std::string_view what) {
        if (auto r = need(8, what); !r) return r.error();
        const auto v = load_u64(here());
        pos_ += 8;
        return v;
    }
    Result<std::string_view> str(std::string_view what) {
        auto n = u64(what);
        if (!n) return n.error();
        if (*n > left()) {
            return make_error(std::string(what) + " at byte " + std::to_string(pos_ - 8) +
                              " claims " + std::to_string(*n) + " bytes but only " +
                              std::to_string(left()) + " remain in the file");
        }
        std::string_view s(reinterpret_cast<const char*>(here()), static_cast<std::size_t>(*n));
        pos_ += *n;
        return s;
    }
    void skip(std::uint64_t n) { pos_ += n; }

  private:
    std::span<const std::byte> b_;
    std::uint64_t pos_ = 0;
};

void fill_scalar(GgufValue& v, const std::byte* p) {
    switch (v.type) {
        case GgufValueType::U8:
        case GgufValueType::Bool:
            v.u = std::to_integer<std::uint8_t>(p[0]);
            v.f = static_cast<double>(*v.u);
            break;
        case GgufValueType::I8: {
            const auto x = static_cast<std::int8_t>(std::to_integer<std::uint8_t>(p[0]));
            if (x >= 0) v.u = static_cast<std::uint64_t>(x);
            v.f = x;
            break;
        }
        case GgufValueType::U16:
            v.u = load_u16(p);
            v.f = static_cast<double>(*v.u);
            break;
        case GgufValueType::I16: {
            const auto x = static_cast<std::int16_t>(load_u16(p));
            if (x >= 0) v.u = static_cast<std::uint64_t>(x);
            v.f = x;
            break;
        }
        case GgufValueType::U32:
            v.u = load_u32(p);
            v.f = static_cast<double>(*v.u);
            break;
        case GgufValueType::I32: {
            const auto x = static_cast<std::int32_t>(load_u32(p));
            if (x >= 0) v.u = static_cast<std::uint64_t>(x);
            v.f = x;
            break;
        }
        case GgufValueType::F32: {
            float x;
            const std::uint32_t bits = load_u32(p);
            std::memcpy(&x, &bits, 4);
            v.f = x;
            break;
        }
        case GgufValueType::U64:
            v.u = load_u64(p);
            v.f = static_cast<double>(*v.u);
            break;
        case GgufValueType::I64: {
            const auto x = static_cast<std::int64_t>(load_u64(p));
            if (x >= 0) v.u = static_cast<std::uint64_t>(x);
            v.f = static_cast<double>(x);
            break;
        }
        case GgufValueType::F64: {
            double x;
            const std::uint64_t bits = load_u64(p);
            std::memcpy(&x, &bits, 8);
            v.f = x;
            break;
        }
        case GgufValueType::String:
        case GgufValueType::Array:
            break;
    }
}

Result<GgufValue> read_value(Cursor& c, std::uint32_t type, const std::string& key, int depth);

Result<GgufValue> read_array(Cursor& c, const std::string& key, int depth) {
    GgufValue v;
    v.type = GgufValueType::Array;
    auto et = c.u32("array element type of '" + key + "'");
    if (!et) return et.error();
    if (!known_type(*et)) {
        return make_error("metadata key '" + key + "' is an array of unknown value type " +
                          std::to_string(*et));
    }
    v.elem_type = static_cast<GgufValueType>(*et);
    auto n = c.u64("array length of '" + key + "'");
    if (!n) return n.error();
    v.count = *n;
    const std::size_t size = fixed_size(v.elem_type);
    if (size != 0) {
        // The length is bounded by the bytes that remain before anything is derived from it.
        if (*n > c.left() / size) {
            return make_error("metadata array '" + key + "' claims " + std::to_string(*n) +
                              " elements of " + std::string(gguf_value_type_name(v.elem_type)) +
                              ", more than the " + std::to_string(c.left()) +
                              " bytes left in the file");
        }
        v.raw = {c.here(), static_cast<std::size_t>(*n * size)};
        c.skip(*n * size);
        return v;
    }
    if (v.elem_type == GgufValueType::String) {
        // Each string takes at least its 8-byte length.
        if (*n > c.left() / 8) {
            return make_error("metadata array '" + key + "' claims " + std::to_string(*n) +
                              " strings, more than the " + std::to_string(c.left()) +
                              " bytes left in the file can hold");
        }
        if (*n > kMaxArrayStrings) {
            return make_error("metadata array '" + key + "' claims " + std::to_string(*n) +
                              " strings; Ravel reads at most " + std::to_string(kMaxArrayStrings));
        }
        v.strings.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*n, kMaxReserve)));
        for (std::uint64_t i = 0; i < *n; ++i) {
            auto s = c.str("string " + std::to_string(i) + " of array '" + key + "'");
            if (!s) return s.error();
            v.strings.push_back(*s);
        }
        return v;
    }
    // Arrays of arrays: validated and skipped.
    if (depth >= kMaxArrayDepth) {
        return make_error("metadata array '" + key + "' nests arrays more than " +
                          std::to_string(kMaxArrayDepth) + " deep");
    }
    if (*n > c.left() / 12) {
        return make_error("metadata array '" + key + "' claims " + std::to_string(*n) +
                          " nested arrays, more than the file can hold");
    }
    for (std::uint64_t i = 0; i < *n; ++i) {
        auto inner =
            read_value(c, static_cast<std::uint32_t>(GgufValueType::Array), key, depth + 1);
        if (!inner) return inner.error();
    }
    return v;
}

Result<GgufValue> read_value(Cursor& c, std::uint32_t type, const std::string& key, int depth) {
    if (!known_type(type)) {
        return make_error("metadata key '" + key + "' has unknown value type " +
                          std::to_string(type));
    }
    GgufValue v;
    v.type = static_cast<GgufValueType>(type);
    if (v.type == GgufValueType::Array) return read_array(c, key, depth);
    if (v.type == GgufValueType::String) {
        auto s = c.str("value of '" + key + "'");
        if (!s) return s.error();
        v.str = *s;
        return v;
    }
    const std::size_t size = fixed_size(v.type);
    if (auto r = c.need(size, "value of '" + key + "'"); !r) return r.error();
    fill_scalar(v, c.here());
    c.skip(size);
    return v;
}

std::string number_text(double f) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", f);
    return buf;
}

std::string scalar_text(GgufValueType t, const std::byte* p) {
    GgufValue v;
    v.type = t;
    fill_scalar(v, p);
    if (t == GgufValueType::Bool) return *v.u != 0 ? "true" : "false";
    if (t == GgufValueType::F32 || t == GgufValueType::F64) return number_text(v.f);
    if (v.u) return std::to_string(*v.u);
    return std::to_string(static_cast<std::int64_t>(v.f));
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) {
    static constexpr std::string_view names[] = {"u8",  "i8",  "u16",  "i16",    "u32",
                                                 "i32", "f32", "bool", "string", "array",
                                                 "u64", "i64", "f64"};
    const auto i = static_cast<std::uint32_t>(type);
    return i < std::size(names) ? names[i] : "?";
}

std::string GgufValue::to_text() const {
    switch (type) {
        case GgufValueType::String:
            return std::string(str);
        case GgufValueType::Array: {
            const std::string summary = "[" + std::to_string(count) + " x " +
                                        std::string(gguf_value_type_name(elem_type)) + "]";
            if (count > kMaxListed) return summary;
            std::string s = "[";
            if (elem_type == GgufValueType::String) {
                for (std::size_t i = 0; i < strings.size(); ++i) {
                    if (i) s += ", ";
                    s += strings[i];
                }
                return s + "]";
            }
            const std::size_t size = fixed_size(elem_type);
            if (size == 0) return summary;
            for (std::uint64_t i = 0; i < count; ++i) {
                if (i) s += ", ";
                s += scalar_text(elem_type, raw.data() + i * size);
            }
            return s + "]";
        }
        case GgufValueType::Bool:
            return u && *u != 0 ? "true" : "false";
        case GgufValueType::F32:
        case GgufValueType::F64:
            return number_text(f);
        default:
            if (u) return std::to_string(*u);
            return std::to_string(static_cast<std::int64_t>(f));
    }
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = kv.find(key);
    return it == kv.end() ? nullptr : &it->second;
}

std::optional<std::uint64_t> GgufFile::get_uint(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr || v->type == GgufValueType::Array || v->type == GgufValueType::String ||
        v->type == GgufValueType::F32 || v->type == GgufValueType::F64) {
        return std::nullopt;
    }
    return v->u;
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr || v->type != GgufValueType::String) return std::nullopt;
    return v->str;
}

std::optional<DType> dtype_from_ggml(std::uint32_t ggml_type) {
    switch (ggml_type) {
        case 0:
            return DType::F32;
        case 1:
            return DType::F16;
        case 2:
            return DType::Q4_0;
        case 7:
            return DType::Q5_1;
        case 8:
            return DType::Q8_0;
        case 30:
            return DType::BF16;
        default:
            return std::nullopt;
    }
}

std::uint32_t ggml_type_of(DType type) {
    switch (type) {
        case DType::F32:
            return 0;
        case DType::F16:
            return 1;
        case DType::Q4_0:
            return 2;
        case DType::Q5_1:
            return 7;
        case DType::Q8_0:
            return 8;
        case DType::BF16:
            return 30;
    }
    return 0;
}

std::string ggml_type_name(std::uint32_t ggml_type) {
    // ggml's numbering; gaps are ids ggml has retired.
    static constexpr std::string_view names[] = {
        "f32",   "f16",        "q4_0",       "q4_1",       "q4_2",     "q4_3",     "q5_0",
        "q5_1",  "q8_0",       "q8_1",       "q2_K",       "q3_K",     "q4_K",     "q5_K",
        "q6_K",  "q8_K",       "iq2_xxs",    "iq2_xs",     "iq3_xxs",  "iq1_s",    "iq4_nl",
        "iq3_s", "iq2_s",      "iq4_xs",     "i8",         "i16",      "i32",      "i64",
        "f64",   "iq1_m",      "bf16",       "q4_0_4_4",   "q4_0_4_8", "q4_0_8_8", "tq1_0",
        "tq2_0", "iq4_nl_4_4", "iq4_nl_4_8", "iq4_nl_8_8", "mxfp4"};
    if (ggml_type < std::size(names)) return std::string(names[ggml_type]);
    return "unknown type " + std::to_string(ggml_type);
}

Result<GgufFile> parse_gguf(std::span<const std::byte> file) {
    Cursor c(file);
    if (auto r = c.need(4, "magic"); !r) return r.error();
    if (std::memcmp(c.here(), "GGUF", 4) != 0) return make_error("not a GGUF file (bad magic)");
    c.skip(4);
    GgufFile g;
    auto version = c.u32("version");
    if (!version) return version.error();
    if (*version != 2 && *version != 3) {
        return make_error("GGUF version " + std::to_string(*version) +
                          " is not supported (only versions 2 and 3)");
    }
    g.version = *version;
    auto n_tensors = c.u64("tensor count");
    if (!n_tensors) return n_tensors.error();
    auto n_kv = c.u64("metadata count");
    if (!n_kv) return n_kv.error();
    // Smallest possible entries: a key/value is an 8-byte length, a 4-byte type and a 1-byte
    // value; a tensor description is 8 + 4 + 4 + 8 bytes.
    if (*n_kv > c.left() / 13) {
        return make_error("header claims " + std::to_string(*n_kv) +
                          " metadata entries, more than the file can hold");
    }
    if (*n_kv > kMaxEntries || *n_tensors > kMaxTensors) {
        return make_error("header claims " + std::to_string(*n_kv) + " metadata entries and " +
                          std::to_string(*n_tensors) + " tensors; Ravel reads at most " +
                          std::to_string(kMaxEntries) + " and " + std::to_string(kMaxTensors) +
                          " (the header is damaged or this is not a model)");
    }
    if (*n_tensors > c.left() / 24) {
        return make_error("header claims " + std::to_string(*n_tensors) +
                          " tensors, more than the file can hold");
    }

    for (std::uint64_t i = 0; i < *n_kv; ++i) {
        auto key = c.str("metadata key " + std::to_string(i));
        if (!key) return key.error();
        const std::string k(*key);
        auto type = c.u32("value type of '" + k + "'");
        if (!type) return type.error();
        auto value = read_value(c, *type, k, 0);
        if (!value) return value.error();
        if (!g.kv.emplace(k, std::move(*value)).second) {
            return make_error("metadata key '" + k + "' appears twice");
        }
    }

    if (const GgufValue* a = g.find("general.alignment")) {
        if (a->type != GgufValueType::U32 || !a->u || *a->u == 0 || (*a->u & (*a->u - 1)) != 0) {
            return make_error("general.alignment must be a u32 power of two, got " + a->to_text());
        }
        g.alignment = *a->u;
    }

    std::vector<std::uint64_t> rel_offsets;
    std::vector<std::uint32_t> ggml_types;
    g.tensors.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*n_tensors, kMaxReserve)));
    for (std::uint64_t i = 0; i < *n_tensors; ++i) {
        auto name = c.str("name of tensor " + std::to_string(i));
        if (!name) return name.error();
        TensorInfo t;
        t.name = std::string(*name);
        const std::string who = "tensor '" + t.name + "'";
        auto n_dims = c.u32("rank of " + who);
        if (!n_dims) return n_dims.error();
        if (*n_dims == 0 || *n_dims > kGgufMaxDims) {
            return make_error(who + " has " + std::to_string(*n_dims) +
                              " dimensions; GGUF allows 1 to " + std::to_string(kGgufMaxDims));
        }
        std::vector<std::int64_t> ne(*n_dims);
        for (auto& d : ne) {
            auto v = c.u64("dimensions of " + who);
            if (!v) return v.error();
            if (*v > static_cast<std::uint64_t>(INT64_MAX)) {
                return make_error(who + " has an impossible dimension " + std::to_string(*v));
            }
            d = static_cast<std::int64_t>(*v);
        }
        auto type = c.u32("type of " + who);
        if (!type) return type.error();
        auto dtype = dtype_from_ggml(*type);
        const bool kquant = kquant_block_bytes(*type).has_value();
        if (!dtype && !kquant) {
            return make_error(who + " is stored as ggml type " + ggml_type_name(*type) +
                              ", which Ravel does not read (supported: f32, f16, bf16, q8_0, "
                              "q5_1, q4_0, and q4_K, q5_K read as q5_1, q6_K read as q8_0); "
                              "re-quantize the "
                              "model to one of these");
        }
        auto offset = c.u64("data offset of " + who);
        if (!offset) return offset.error();
        // A K type: what it is re-encoded as (see read_gguf).
        t.dtype = dtype.value_or(kquant_fits_q5_1(*type) ? DType::Q5_1 : DType::Q8_0);
        t.shape.assign(ne.rbegin(), ne.rend());
        if (kquant && ne[0] % static_cast<std::int64_t>(kKQuantBlock) != 0) {
            return make_error(who + " is " + ggml_type_name(*type) + " but its rows of " +
                              std::to_string(ne[0]) + " values do not fill whole blocks of " +
                              std::to_string(kKQuantBlock));
        }
        // Quantized blocks run along the innermost dimension; a row must hold whole blocks.
        if (dtype_block_elements(t.dtype) > 1 &&
            ne[0] % static_cast<std::int64_t>(dtype_block_elements(t.dtype)) != 0) {
            return make_error(who + " is " + std::string(dtype_name(t.dtype)) +
                              " but its rows of " + std::to_string(ne[0]) +
                              " values do not fill whole blocks of " +
                              std::to_string(dtype_block_elements(t.dtype)));
        }
        g.tensors.push_back(std::move(t));
        rel_offsets.push_back(*offset);
        ggml_types.push_back(*type);
    }

    const std::uint64_t end = c.pos();
    const std::uint64_t pad = (g.alignment - end % g.alignment) % g.alignment;
    g.data_start = end + pad;
    if (g.data_start > file.size() && !g.tensors.empty()) {
        return make_error("the file ends before its tensor data begins (truncated)");
    }
    const std::uint64_t data_bytes = g.tensors.empty() ? 0 : file.size() - g.data_start;
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        TensorInfo& t = g.tensors[i];
        const std::string who = "tensor '" + t.name + "'";
        if (rel_offsets[i] % g.alignment != 0) {
            return make_error(who + " starts at data offset " + std::to_string(rel_offsets[i]) +
                              ", which is not a multiple of the alignment " +
                              std::to_string(g.alignment));
        }
        if (rel_offsets[i] > data_bytes) {
            return make_error(who + " starts at data offset " + std::to_string(rel_offsets[i]) +
                              ", past the end of the file (" + std::to_string(data_bytes) +
                              " data bytes); the file is truncated or corrupt");
        }
        auto bytes =
            kquant_block_bytes(ggml_types[i])
                ? checked_kquant_bytes(t, ggml_types[i], data_bytes - rel_offsets[i])
                : checked_tensor_bytes(t.name, t.dtype, t.shape, data_bytes - rel_offsets[i]);
        if (!bytes) {
            return make_error(bytes.message() + " (the file is truncated or corrupt)");
        }
        t.offset = g.data_start + rel_offsets[i];
        t.nbytes = *bytes;
    }
    g.ggml_types = std::move(ggml_types);
    return g;
}

}  // namespace ravel::format
