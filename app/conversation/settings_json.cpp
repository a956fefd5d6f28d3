#include "conversation/settings_json.hpp"

namespace ravel::conversation {

using nlohmann::json;

json sampler_to_json(const SamplerSettings& s) {
    return {{"temperature", s.temperature},
            {"top_k", s.top_k},
            {"top_p", s.top_p},
            {"min_p", s.min_p},
            {"presence_penalty", s.presence_penalty},
            {"frequency_penalty", s.frequency_penalty},
            {"penalty_decay", s.penalty_decay},
            {"banned_tokens", s.banned_tokens},
            {"stop_sequences", s.stop_sequences},
            {"max_tokens", s.max_tokens},
            {"seed", s.seed}};
}

namespace {

template <class T>
Result<void> read_number(const json& j, const char* key, T& out) {
    auto it = j.find(key);
    if (it == j.end()) return {};
    if (!it->is_number()) return make_error(std::string("setting ") + key + " is not a number");
    if constexpr (std::is_floating_point_v<T>) {
        out = static_cast<T>(it->get<double>());
    } else if constexpr (std::is_unsigned_v<T>) {
        if (!it->is_number_unsigned()) {
            return make_error(std::string("setting ") + key + " must be a non-negative integer");
        }
        out = it->get<T>();
    } else {
        if (!it->is_number_integer()) {
            return make_error(std::string("setting ") + key + " must be an integer");
        }
        const auto v = it->get<std::int64_t>();
        if (v < -(std::int64_t{1} << 31) || v >= (std::int64_t{1} << 31)) {
            return make_error(std::string("setting ") + key + " is out of range");
        }
        out = static_cast<T>(v);
    }
    return {};
}

}  // namespace

Result<SamplerSettings> sampler_from_json(const json& j, SamplerSettings s) {
    if (!j.is_object()) return make_error("sampler settings must be a JSON object");
    for (auto r : {read_number(j, "temperature", s.temperature), read_number(j, "top_k", s.top_k),
                   read_number(j, "top_p", s.top_p), read_number(j, "min_p", s.min_p),
                   read_number(j, "presence_penalty", s.presence_penalty),
                   read_number(j, "frequency_penalty", s.frequency_penalty),
                   read_number(j, "penalty_decay", s.penalty_decay),
                   read_number(j, "max_tokens", s.max_tokens), read_number(j, "seed", s.seed)}) {
        if (!r) return r.error();
    }
    if (auto it = j.find("banned_tokens"); it != j.end()) {
        if (!it->is_array()) return make_error("setting banned_tokens is not a list");
        s.banned_tokens.clear();
        for (const auto& t : *it) {
            if (!t.is_number_integer()) return make_error("banned token is not an integer");
            const auto v = t.get<std::int64_t>();
            if (v < 0 || v >= (std::int64_t{1} << 31))
                return make_error("banned token out of range");
            s.banned_tokens.push_back(static_cast<std::int32_t>(v));
        }
    }
    if (auto it = j.find("stop_sequences"); it != j.end()) {
        if (!it->is_array()) return make_error("setting stop_sequences is not a list");
        s.stop_sequences.clear();
        for (const auto& t : *it) {
            if (!t.is_string()) return make_error("stop sequence is not a string");
            s.stop_sequences.push_back(t.get<std::string>());
        }
    }
    if (auto r = s.validate(); !r) return r.error();
    return s;
}

Result<json> parse_object(const std::string& text, const std::string& what) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return make_error(what + " is not a JSON object");
    return j;
}

}  // namespace ravel::conversation
