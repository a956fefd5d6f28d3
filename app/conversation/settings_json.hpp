// Sampler settings as the JSON stored with conversations and replies. Reading treats the JSON as
// input: unknown keys are ignored, wrong types and out-of-range values are errors.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ravel/result.hpp"
#include "ravel/sampler.hpp"

namespace ravel::conversation {

nlohmann::json sampler_to_json(const SamplerSettings& s);
// Fields absent from `j` keep their value from `base`.
Result<SamplerSettings> sampler_from_json(const nlohmann::json& j, SamplerSettings base = {});

// Parses a settings column; an unparsable one is an error naming `what`.
Result<nlohmann::json> parse_object(const std::string& text, const std::string& what);

}  // namespace ravel::conversation
