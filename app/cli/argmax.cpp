#include "argmax.hpp"

#include <algorithm>
#include <limits>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace ravel::cli {

// The greedy pick of the decode loop, time that belongs to no engine. A compare-and-move
// chain costs about 0.2 ms per token over a 65536-word vocabulary, and a scalar max pass
// followed by a search for its first index 40 us (1.7% of a q4_0 0.1B token; GCC 12 does not
// vectorise the lanes). So: each block's largest value with SSE maxima (MAXPS returns its second
// operand when either is NaN, so NaN is skipped), then the search within the first block
// holding the largest.
namespace {
float block_max(const float* v, std::size_t n) {
    std::size_t i = 0;
    float m = -std::numeric_limits<float>::infinity();
#if defined(__SSE2__)
    __m128 a = _mm_set1_ps(m), b = a, c = a, d = a;
    for (; i + 16 <= n; i += 16) {
        a = _mm_max_ps(_mm_loadu_ps(v + i), a);
        b = _mm_max_ps(_mm_loadu_ps(v + i + 4), b);
        c = _mm_max_ps(_mm_loadu_ps(v + i + 8), c);
        d = _mm_max_ps(_mm_loadu_ps(v + i + 12), d);
    }
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, _mm_max_ps(_mm_max_ps(a, b), _mm_max_ps(c, d)));
    for (float x : lanes) m = x > m ? x : m;
#endif
    for (; i < n; ++i) m = v[i] > m ? v[i] : m;
    return m;
}
}  // namespace

std::int32_t argmax(std::span<const float> v) {
    constexpr std::size_t kBlock = 1024;
    float top = -std::numeric_limits<float>::infinity();
    std::size_t top_block = v.size();
    for (std::size_t b = 0; b < v.size(); b += kBlock) {
        const float m = block_max(v.data() + b, std::min(kBlock, v.size() - b));
        if (m > top || (top_block == v.size() && m == top)) {
            top = m;
            top_block = b;
        }
    }
    if (top_block == v.size()) return 0;  // empty or all NaN
    for (std::size_t j = top_block; j < v.size(); ++j)
        if (v[j] == top) return static_cast<std::int32_t>(j);
    return 0;
}

}  // namespace ravel::cli
