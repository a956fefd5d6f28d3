// e^(x[i] - shift) for a whole logit vector at once, for the sampler's weights.
#pragma once

#include <cstddef>

namespace ravel::detail {

// out[i] = e^(x[i] - shift) for x[i] <= shift, within 1.5e-7 relative (flushed to about 1e-38
// below e^-87). Values above `shift`, infinities and NaN give meaningless results: callers
// read only finite candidates at or below the maximum.
// Eight at a time where the CPU has AVX2, else four (SSE2); the same bits either way.
void shifted_exp(const float* x, std::size_t n, float shift, double* out);
// The path of CPUs without AVX2, for tests on machines that have it.
void shifted_exp_portable(const float* x, std::size_t n, float shift, double* out);

}  // namespace ravel::detail
