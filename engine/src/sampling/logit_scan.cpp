#include "logit_scan.hpp"

#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ravel::detail {

LogitScan scan_logits(const float* x, std::size_t n) {
    std::size_t i = 0;
    float max = x[0];
    bool finite = true;
#if defined(__SSE2__)
    if (n >= 8) {
        __m128 m0 = _mm_loadu_ps(x), m1 = m0;
        __m128 bad = _mm_setzero_ps();
        for (; i + 8 <= n; i += 8) {
            const __m128 a = _mm_loadu_ps(x + i);
            const __m128 b = _mm_loadu_ps(x + i + 4);
            // v - v is 0 for a finite v and NaN for an infinity or NaN.
            const __m128 da = _mm_sub_ps(a, a);
            const __m128 db = _mm_sub_ps(b, b);
            bad = _mm_or_ps(bad, _mm_or_ps(_mm_cmpunord_ps(da, da), _mm_cmpunord_ps(db, db)));
            m0 = _mm_max_ps(m0, a);
            m1 = _mm_max_ps(m1, b);
        }
        finite = _mm_movemask_ps(bad) == 0;
        alignas(16) float lanes[4];
        _mm_store_ps(lanes, _mm_max_ps(m0, m1));
        max = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
    }
#endif
    for (; i < n; ++i) {
        const float d = x[i] - x[i];
        finite = finite && d == d;
        max = std::max(max, x[i]);
    }
    LogitScan scan;
    scan.all_finite = finite;
    if (!finite) return scan;
    scan.max = max;
    scan.first_max = static_cast<std::size_t>(std::find(x, x + n, max) - x);
    return scan;
}

double sum_of(const double* x, std::size_t n) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    for (; i < n; ++i) s0 += x[i];
    return (s0 + s1) + (s2 + s3);
}

float min_of(const float* x, std::size_t n) {
    std::size_t i = 0;
    float m = x[0];
#if defined(__SSE2__)
    if (n >= 8) {
        __m128 m0 = _mm_loadu_ps(x), m1 = m0;
        for (; i + 8 <= n; i += 8) {
            m0 = _mm_min_ps(m0, _mm_loadu_ps(x + i));
            m1 = _mm_min_ps(m1, _mm_loadu_ps(x + i + 4));
        }
        alignas(16) float lanes[4];
        _mm_store_ps(lanes, _mm_min_ps(m0, m1));
        m = std::min(std::min(lanes[0], lanes[1]), std::min(lanes[2], lanes[3]));
    }
#endif
    for (; i < n; ++i) m = std::min(m, x[i]);
    return m;
}

void block_maxima(const float* x, std::size_t n, float* out) {
    for (std::size_t b = 0; b + kMaximaBlock <= n; b += kMaximaBlock) {
        const float* p = x + b;
#if defined(__SSE2__)
        const __m128 m = _mm_max_ps(_mm_max_ps(_mm_loadu_ps(p), _mm_loadu_ps(p + 4)),
                                    _mm_max_ps(_mm_loadu_ps(p + 8), _mm_loadu_ps(p + 12)));
        alignas(16) float lanes[4];
        _mm_store_ps(lanes, m);
        out[b / kMaximaBlock] =
            std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
#else
        out[b / kMaximaBlock] = *std::max_element(p, p + kMaximaBlock);
#endif
    }
}

}  // namespace ravel::detail
