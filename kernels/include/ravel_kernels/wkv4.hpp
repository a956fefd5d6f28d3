// RWKV-4 WKV in ChatRWKV's max-shifted form: aa, bb are the numerator and denominator scaled
// by e^-pp, so nothing overflows however long the context. One thread per channel walks the
// T tokens with its state in registers (the one-token form is T = 1).
#pragma once

#include "ravel_kernels/common.hpp"

namespace ravel::kernels {

// decay = -exp(time_decay), bonus = time_first (C values each); k, v, r: T x C.
// y = sigmoid(r) * wkv; aa, bb, pp (C each) are updated in place.
Status wkv4(int T, int C, const float* decay, const float* bonus, const float* k, const float* v,
            const float* r, float* aa, float* bb, float* pp, float* y, Stream stream);

}  // namespace ravel::kernels
