#include "model/matrix.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace ravel::detail {

Result<Matrix> make_matrix(const float* values, int rows, int cols, DType type) {
    Matrix m;
    m.type = type;
    m.rows = rows;
    m.cols = cols;
    const auto n = static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols);
    std::size_t bytes = 0;
    switch (type) {
        case DType::F32:
            bytes = n * 4;
            break;
        case DType::F16:
        case DType::BF16:
            bytes = n * 2;
            break;
        default:
            return make_error("weight type " + std::string(dtype_name(type)) +
                              " is not supported by the reference CPU path");
    }
    if (!m.storage.resize(bytes)) {
        return make_error("out of memory allocating a " + std::to_string(rows) + "x" +
                          std::to_string(cols) + " matrix");
    }
    if (type == DType::F32) {
        std::memcpy(m.storage.data(), values, bytes);
    } else {
        auto* out = m.storage.as<std::uint16_t>();
        for (std::uint64_t i = 0; i < n; ++i) {
            out[i] = type == DType::F16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
        }
    }
    return m;
}

namespace {

// Eight independent partial sums let the compiler vectorise without reassociation flags.
inline float dot_f32(const float* a, const float* b, int n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

// Converts one row of a half-precision matrix to fp32 so the dot product stays shared.
void widen_row(const Matrix& w, int r, float* out) {
    const auto* src = w.storage.as<std::uint16_t>() + static_cast<std::size_t>(r) * w.cols;
    if (w.type == DType::F16) {
        for (int c = 0; c < w.cols; ++c) out[c] = f16_to_f32(src[c]);
    } else {
        for (int c = 0; c < w.cols; ++c) out[c] = bf16_to_f32(src[c]);
    }
}

}  // namespace

void matmul(const Matrix& w, const float* x, int T, float* y) {
    const int R = w.rows;
    const int C = w.cols;
    if (w.type == DType::F32) {
        const float* W = w.storage.as<float>();
        // Four rows at a time reuse each activation row from cache.
        for (int r0 = 0; r0 < R; r0 += 4) {
            const int r1 = std::min(R, r0 + 4);
            for (int t = 0; t < T; ++t) {
                const float* xt = x + static_cast<std::size_t>(t) * C;
                float* yt = y + static_cast<std::size_t>(t) * R;
                for (int r = r0; r < r1; ++r) {
                    yt[r] = dot_f32(W + static_cast<std::size_t>(r) * C, xt, C);
                }
            }
        }
        return;
    }
    std::vector<float> row(static_cast<std::size_t>(C));
    for (int r = 0; r < R; ++r) {
        widen_row(w, r, row.data());
        for (int t = 0; t < T; ++t) {
            y[static_cast<std::size_t>(t) * R + r] =
                dot_f32(row.data(), x + static_cast<std::size_t>(t) * C, C);
        }
    }
}

}  // namespace ravel::detail
