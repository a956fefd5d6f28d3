#include "format/safetensors_reader.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "format/le_bytes.hpp"

namespace ravel::format {

namespace {

using Json = nlohmann::ordered_json;  // keeps the tensors in the order they were written

constexpr std::size_t kMaxJsonDepth = 64;

// nlohmann parses iteratively, but a cheap pre-scan keeps absurd nesting out entirely.
bool nesting_ok(std::string_view text) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > kMaxJsonDepth) return false;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return true;
}

std::optional<DType> safetensors_dtype(const std::string& name) {
    if (name == "F32") return DType::F32;
    if (name == "F16") return DType::F16;
    if (name == "BF16") return DType::BF16;
    return std::nullopt;
}

Result<TensorInfo> parse_tensor(const std::string& name, const Json& j, std::uint64_t data_start,
                                std::uint64_t data_size) {
    const std::string who = "tensor '" + name + "'";
    if (!j.is_object()) return make_error(who + ": header entry is not an object");
    const auto dt = j.find("dtype");
    const auto sh = j.find("shape");
    const auto off = j.find("data_offsets");
    if (dt == j.end() || !dt->is_string()) return make_error(who + ": missing string 'dtype'");
    if (sh == j.end() || !sh->is_array()) return make_error(who + ": missing array 'shape'");
    if (off == j.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned()) {
        return make_error(who + ": 'data_offsets' must be two non-negative integers");
    }
    const auto type_name = dt->get<std::string>();
    const auto dtype = safetensors_dtype(type_name);
    if (!dtype) {
        return make_error(who + ": dtype '" + type_name +
                          "' is not supported (expected F32, F16 or BF16)");
    }
    if (sh->size() > kMaxTensorRank) {
        return make_error(who + " has " + std::to_string(sh->size()) + " dimensions; at most " +
                          std::to_string(kMaxTensorRank) + " are supported");
    }
    std::vector<std::int64_t> shape;
    for (const auto& d : *sh) {
        if (d.is_number_unsigned()) {
            const auto u = d.get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(INT64_MAX)) {
                return make_error(who + ": a dimension of " + std::to_string(u) + " is too large");
            }
            shape.push_back(static_cast<std::int64_t>(u));
        } else if (d.is_number_integer()) {
            shape.push_back(d.get<std::int64_t>());  // negative: rejected below with the shape
        } else {
            return make_error(who + ": shape entries must be integers");
        }
    }
    const auto begin = (*off)[0].get<std::uint64_t>();
    const auto end = (*off)[1].get<std::uint64_t>();
    if (begin > end || end > data_size) {
        return make_error(who + ": data_offsets [" + std::to_string(begin) + ", " +
                          std::to_string(end) + "] run past the end of the data (" +
                          std::to_string(data_size) + " bytes after the header)");
    }
    // Checked against the tensor's own byte range, which already lies inside the file.
    auto nbytes = checked_tensor_bytes(name, *dtype, shape, end - begin);
    if (!nbytes || *nbytes != end - begin) {
        const std::string detail = nbytes ? who + ": shape " + shape_to_string(shape) + " of " +
                                                type_name + " needs " + std::to_string(*nbytes) +
                                                " bytes"
                                          : nbytes.message();
        return make_error(detail + " but data_offsets [" + std::to_string(begin) + ", " +
                          std::to_string(end) + "] span " + std::to_string(end - begin));
    }
    TensorInfo info;
    info.name = name;
    info.dtype = *dtype;
    info.shape = std::move(shape);
    info.offset = data_start + begin;
    info.nbytes = *nbytes;
    return info;
}

}  // namespace

Result<ParsedWeights> read_safetensors(std::span<const std::byte> file) {
    if (file.size() < 8) return make_error("file too short for a safetensors header length");
    const std::uint64_t header_len = load_u64(file.data());
    if (header_len > file.size() - 8) {
        return make_error("safetensors header length " + std::to_string(header_len) +
                          " exceeds the file's remaining " + std::to_string(file.size() - 8) +
                          " bytes (truncated or not a safetensors file)");
    }
    const std::string_view text(reinterpret_cast<const char*>(file.data() + 8),
                                static_cast<std::size_t>(header_len));
    if (!nesting_ok(text)) {
        return make_error("safetensors header nests deeper than " + std::to_string(kMaxJsonDepth) +
                          " levels");
    }
    Json header;
    // The parser keeps one value per key, so a name given twice is caught while parsing: two
    // tensors of one name would otherwise load as whichever came last, without a word.
    std::set<std::string> top_keys;
    std::string twice;
    const Json::parser_callback_t note_keys = [&](int depth, Json::parse_event_t event,
                                                  Json& parsed) {
        if (event == Json::parse_event_t::key && depth == 1 && twice.empty() &&
            !top_keys.insert(parsed.get<std::string>()).second) {
            twice = parsed.get<std::string>();
        }
        return true;
    };
    try {
        header = Json::parse(text, note_keys);
    } catch (const std::exception& e) {
        return make_error(std::string("safetensors header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) return make_error("safetensors header is not a JSON object");
    if (!twice.empty()) return make_error("tensor '" + twice + "' appears twice");

    const std::uint64_t data_start = 8 + header_len;
    const std::uint64_t data_size = file.size() - data_start;
    ParsedWeights out;
    for (const auto& [name, value] : header.items()) {
        if (name == "__metadata__") {
            if (!value.is_object()) return make_error("safetensors __metadata__ is not an object");
            for (const auto& [k, v] : value.items()) {
                if (!v.is_string()) {
                    return make_error("safetensors __metadata__ '" + k + "' is not a string");
                }
                out.metadata[k] = v.get<std::string>();
            }
            continue;
        }
        auto tensor = parse_tensor(name, value, data_start, data_size);
        if (!tensor) return tensor.error();
        out.tensors.push_back(std::move(*tensor));
    }
    return out;
}

}  // namespace ravel::format
