// Sequence-mode GEMM kernels (compute-bound). Included inside namespace
// ravel::detail::cpu::<isa>::{anonymous} by simd_kernels.inl.

// GEMM: each panel of kPanel output rows is packed k-major once (the whole K range, which
// stays in L2), then multiplied by every token, so the micro-kernel multiplies whole vectors
// of output rows by one broadcast activation (no horizontal sums) and each output is written
// exactly once.
constexpr int kPanelVecs = 2;
constexpr int kPanel = kPanelVecs * S::W;  // output rows per panel
constexpr int kTileT = S::kTileTokens;     // tokens per micro-kernel call
constexpr int kRowChunk = 256;             // columns decoded at a time while packing

// y[t][0..nr) = sum_k pack[k][.] * x[t][k] for t < nt.
inline void panel_kernel(const float* pack, const float* const xt[kTileT], int kn, float* y,
                         std::size_t ldy, int nr, int nt) {
    S::V acc[kPanelVecs][kTileT];
    for (int v = 0; v < kPanelVecs; ++v)
        for (int t = 0; t < kTileT; ++t) acc[v][t] = S::zero();
    for (int k = 0; k < kn; ++k) {
        const float* pk = pack + static_cast<std::size_t>(k) * kPanel;
        S::V wv[kPanelVecs];
        for (int v = 0; v < kPanelVecs; ++v) wv[v] = S::load(pk + v * S::W);
        for (int t = 0; t < kTileT; ++t) {
            const S::V xb = S::set1(xt[t][k]);
            for (int v = 0; v < kPanelVecs; ++v) acc[v][t] = S::fma(wv[v], xb, acc[v][t]);
        }
    }
    for (int t = 0; t < nt; ++t) {
        float* yt = y + static_cast<std::size_t>(t) * ldy;
        if (nr == kPanel) {
            for (int v = 0; v < kPanelVecs; ++v) S::store(yt + v * S::W, acc[v][t]);
        } else {
            alignas(64) float tmp[kPanel];
            for (int v = 0; v < kPanelVecs; ++v) S::store(tmp + v * S::W, acc[v][t]);
            for (int r = 0; r < nr; ++r) yt[r] = tmp[r];
        }
    }
}

// Packs rows [r, r + nr) of w, all columns, k-major; missing rows are zero. Rows are decoded
// kRowChunk columns at a time into an L1-sized staging tile, which is then written out with
// the row index innermost, so every packed cache line is written in one go.
template <DType Type>
void pack_panel(const Matrix& w, int r, int nr, float* pack) {
    const int C = w.cols;
    alignas(64) float stage[kPanel][kRowChunk];
    for (int k0 = 0; k0 < C; k0 += kRowChunk) {
        const int kn = imin(kRowChunk, C - k0);
        const float* src[kPanel];
        for (int p = 0; p < kPanel; ++p) {
            if (p >= nr) {
                for (int k = 0; k < kn; ++k) stage[p][k] = 0.0f;
                src[p] = stage[p];
                continue;
            }
            const std::byte* row = w.row(r + p);
            if constexpr (Type == DType::F32) {
                src[p] = reinterpret_cast<const float*>(row) + k0;
            } else {
                S::V vals[kVecs];
                const int whole = kn / kBlock;
                for (int b = 0; b < whole; ++b) {
                    decode_block<Type>(row, k0 / kBlock + b, vals);
                    for (int v = 0; v < kVecs; ++v)
                        S::store(stage[p] + b * kBlock + v * S::W, vals[v]);
                }
                for (int c = whole * kBlock; c < kn; ++c)
                    stage[p][c] = scalar_at(Type, row, k0 + c);
                src[p] = stage[p];
            }
        }
        float* dst = pack + static_cast<std::size_t>(k0) * kPanel;
        for (int k = 0; k < kn; ++k) {
            for (int p = 0; p < kPanel; ++p)
                dst[static_cast<std::size_t>(k) * kPanel + p] = src[p][k];
        }
    }
}

template <DType Type>
void gemm_typed(const Matrix& w, int r0, int r1, const float* x, int T, float* y) {
    const int C = w.cols;
    const std::size_t R = static_cast<std::size_t>(w.rows);
    // One packed panel: C x kPanel floats (at most a few MiB); C library calls only, see top.
    float* pack = static_cast<float*>(
        std::aligned_alloc(64, ((static_cast<std::size_t>(C) * kPanel * 4 + 63) / 64) * 64));
    if (pack == nullptr) {
        // Out of memory for the panel: fall back to the unpacked one-token kernel per token.
        for (int t = 0; t < T; ++t) {
            gemv_typed<Type>(w, r0, r1, x + static_cast<std::size_t>(t) * C, 1, y + t * R);
        }
        return;
    }
    for (int r = r0; r < r1; r += kPanel) {
        const int nr = imin(kPanel, r1 - r);
        pack_panel<Type>(w, r, nr, pack);
        // Start fetching the next panel's rows while this one is multiplied: packing
        // otherwise stalls on memory latency at the first touch of each row.
        for (int p = 0; p < imin(kPanel, r1 - r - kPanel); ++p) {
            const char* base = reinterpret_cast<const char*>(w.row(r + kPanel + p));
            for (std::size_t b = 0; b < w.row_bytes; b += 64) __builtin_prefetch(base + b, 0, 1);
        }
        for (int t = 0; t < T; t += kTileT) {
            const int nt = imin(kTileT, T - t);
            const float* xt[kTileT];
            for (int i = 0; i < kTileT; ++i)
                xt[i] = x + static_cast<std::size_t>(t + imin(i, nt - 1)) * C;
            panel_kernel(pack, xt, C, y + static_cast<std::size_t>(t) * R + r, R, nr, nt);
        }
    }
    std::free(pack);
}

void gemm(const Matrix& w, int r0, int r1, const float* x, int T, float* y) {
    switch (w.type) {
        case DType::F32:
            return gemm_typed<DType::F32>(w, r0, r1, x, T, y);
        case DType::F16:
            return gemm_typed<DType::F16>(w, r0, r1, x, T, y);
        case DType::BF16:
            return gemm_typed<DType::BF16>(w, r0, r1, x, T, y);
        case DType::Q8_0:
            return gemm_typed<DType::Q8_0>(w, r0, r1, x, T, y);
        case DType::Q5_1:
            return gemm_typed<DType::Q5_1>(w, r0, r1, x, T, y);
        case DType::Q4_0:
            return gemm_typed<DType::Q4_0>(w, r0, r1, x, T, y);
    }
}
