// Builds a Model from any weight source (file or synthetic).
#pragma once

#include <memory>

#include "model/weight_source.hpp"
#include "ravel/model.hpp"

namespace ravel {

Result<std::shared_ptr<const Model>> build_model(const ModelConfig& config,
                                                 const detail::WeightSource& source,
                                                 FileFormat format, const LoadOptions& options);

}  // namespace ravel
