// Decode kernels (T <= kSmallBatch tokens): every weight row is read once and used for all
// tokens; memory-bound. Included inside namespace ravel::detail::cpu::<isa>::{anonymous}.

// Fused decode: each weight block is decoded once into registers and used for all NT tokens.
// NT is a template parameter so the accumulators stay in registers.
template <DType Type, int NT>
void gemv_fixed(const Matrix& w, int r0, int r1, const float* x, float* y) {
    constexpr int kBlockBytes = Type == DType::F32    ? kBlock * 4
                                : Type == DType::Q8_0 ? 34
                                : Type == DType::Q5_1 ? 24
                                : Type == DType::Q4_0 ? 18
                                                      : kBlock * 2;
    const int C = w.cols;
    const int blocks = C / kBlock;  // quantized types always have whole blocks
    for (int r = r0; r < r1; ++r) {
        const std::byte* row = w.row(r);
        S::V acc[NT][2];
        for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = S::zero();
        for (int b = 0; b < blocks; ++b) {
            // Quantized rows are one sequential stream that decoding keeps the core too busy
            // to issue loads for early; fetching 2 KiB ahead hides the latency (measured
            // 31 -> 18 ms/token for q4_0 at 0.1B). Plain types stream well without it.
            if constexpr (Type == DType::Q8_0 || Type == DType::Q5_1 || Type == DType::Q4_0) {
                __builtin_prefetch(reinterpret_cast<const char*>(row) + b * kBlockBytes + 2048, 0,
                                   0);
            }
            S::V vals[kVecs];
            decode_block<Type>(row, b, vals);
            for (int t = 0; t < NT; ++t) {
                const float* xt = x + static_cast<std::size_t>(t) * C + b * kBlock;
                for (int i = 0; i < kVecs; ++i) {
                    acc[t][i & 1] = S::fma(vals[i], S::load(xt + i * S::W), acc[t][i & 1]);
                }
            }
        }
        for (int t = 0; t < NT; ++t) {
            float s = S::sum(S::add(acc[t][0], acc[t][1]));
            for (int c = blocks * kBlock; c < C; ++c) {  // plain types only
                s += scalar_at(Type, row, c) * x[static_cast<std::size_t>(t) * C + c];
            }
            y[static_cast<std::size_t>(t) * w.rows + r] = s;
        }
    }
}

template <DType Type>
void gemv_typed(const Matrix& w, int r0, int r1, const float* x, int T, float* y) {
    switch (T) {
        case 1:
            return gemv_fixed<Type, 1>(w, r0, r1, x, y);
        case 2:
            return gemv_fixed<Type, 2>(w, r0, r1, x, y);
        case 3:
            return gemv_fixed<Type, 3>(w, r0, r1, x, y);
        default:
            break;
    }
    // kSmallBatch (4) at a time; larger T only reaches here from the out-of-memory fallback.
    for (int t = 0; t < T; t += kSmallBatch) {
        const int n = imin(kSmallBatch, T - t);
        const float* xt = x + static_cast<std::size_t>(t) * w.cols;
        float* yt = y + static_cast<std::size_t>(t) * w.rows;
        if (n == 4) {
            gemv_fixed<Type, 4>(w, r0, r1, xt, yt);
        } else {
            gemv_typed<Type>(w, r0, r1, xt, n, yt);
        }
    }
}

void gemv(const Matrix& w, int r0, int r1, const float* x, int T, float* y) {
    switch (w.type) {
        case DType::F32:
            return gemv_typed<DType::F32>(w, r0, r1, x, T, y);
        case DType::F16:
            return gemv_typed<DType::F16>(w, r0, r1, x, T, y);
        case DType::BF16:
            return gemv_typed<DType::BF16>(w, r0, r1, x, T, y);
        case DType::Q8_0:
            return gemv_typed<DType::Q8_0>(w, r0, r1, x, T, y);
        case DType::Q5_1:
            return gemv_typed<DType::Q5_1>(w, r0, r1, x, T, y);
        case DType::Q4_0:
            return gemv_typed<DType::Q4_0>(w, r0, r1, x, T, y);
    }
}
