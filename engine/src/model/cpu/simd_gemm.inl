// Sequence-mode GEMM kernels (compute-bound). Included inside namespace
// ravel::detail::cpu::<isa>::{anonymous} by simd_kernels.inl.
//
// Y = X W^T with the roles chosen so that nothing as large as W is ever transposed: X (T x K,
// small) is packed once per product into token panels, k-major (pack_x); W is read row-major.
// A micro-kernel keeps kGemmRows output rows x kPanelTokens tokens in registers: per k it loads
// the panel's token vectors once and broadcasts one weight per row. Weight rows are staged as
// f32 (decoded for the other types) in blocks of kGemmK columns, [k block][row][column], so a
// single pointer with constant offsets addresses every row.
constexpr int kRowsTile = S::kGemmRows;          // output rows per micro-kernel
constexpr int kTokenVecs = S::kGemmTokenVecs;    // token vectors per micro-kernel
constexpr int kPanelTokens = kTokenVecs * S::W;  // tokens per packed X panel
constexpr int kKBlock = kGemmK;                  // columns per staged block
constexpr std::size_t kXBlockBytes = 1u << 19;   // packed X per token block: stays in L2

inline int round_up(int v, int m) {
    return (v + m - 1) / m * m;
}

// Packs token panels [p0, p1) of X (T x C) into xp: panel p is Kpad x kPanelTokens floats,
// token innermost; tokens >= T and columns >= C are zero. Written 16 columns at a time, so the
// tile being transposed stays in L1.
void pack_x(const float* x, int T, int C, int p0, int p1, float* xp) {
    const int kpad = round_up(C, kKBlock);
    for (int p = p0; p < p1; ++p) {
        float* dst = xp + static_cast<std::size_t>(p) * kpad * kPanelTokens;
        const int t0 = p * kPanelTokens;
        const int nt = imin(kPanelTokens, T - t0);
        for (int k0 = 0; k0 < kpad; k0 += 16) {
            float* d = dst + static_cast<std::size_t>(k0) * kPanelTokens;
            const int kn = imin(16, C - k0);
            for (int i = 0; i < 16 * kPanelTokens; ++i) d[i] = 0.0f;
            for (int t = 0; t < nt; ++t) {
                const float* src = x + static_cast<std::size_t>(t0 + t) * C + k0;
                for (int k = 0; k < kn; ++k) d[k * kPanelTokens + t] = src[k];
            }
        }
    }
}

// Stages rows [r, r + nr) of w (all columns) as f32 in [k block][row][kKBlock] order; rows
// >= nr and columns >= cols are zero.
template <DType Type>
void stage_rows(const Matrix& w, int r, int nr, float* stage) {
    const int C = w.cols;
    const int kpad = round_up(C, kKBlock);
    const int nkb = kpad / kKBlock;
    alignas(64) float row_f32[kKBlock];
    for (int m = 0; m < kRowsTile; ++m) {
        for (int kb = 0; kb < nkb; ++kb) {
            float* dst = stage + (static_cast<std::size_t>(kb) * kRowsTile + m) * kKBlock;
            const int k0 = kb * kKBlock;
            const int kn = m < nr ? imin(kKBlock, C - k0) : 0;
            if (kn == kKBlock && Type == DType::F32) {
                const float* src = reinterpret_cast<const float*>(w.row(r + m)) + k0;
                for (int i = 0; i < kKBlock; i += S::W) S::store(dst + i, S::load(src + i));
                continue;
            }
            if (kn == kKBlock) {  // whole 32-value blocks (kKBlock is a multiple of kBlock)
                S::V vals[kVecs];
                for (int b = 0; b < kKBlock / kBlock; ++b) {
                    decode_block<Type>(w.row(r + m), k0 / kBlock + b, vals);
                    for (int v = 0; v < kVecs; ++v) S::store(dst + b * kBlock + v * S::W, vals[v]);
                }
                continue;
            }
            // Ragged last block (or a padding row): element by element.
            for (int c = 0; c < kKBlock; ++c) row_f32[c] = 0.0f;
            if (kn > 0) {
                if (Type == DType::F32 || Type == DType::F16 || Type == DType::BF16) {
                    for (int c = 0; c < kn; ++c) row_f32[c] = scalar_at(Type, w.row(r + m), k0 + c);
                } else {
                    S::V vals[kVecs];
                    for (int b = 0; b * kBlock < kn; ++b) {
                        decode_block<Type>(w.row(r + m), k0 / kBlock + b, vals);
                        for (int v = 0; v < kVecs; ++v)
                            S::store(row_f32 + b * kBlock + v * S::W, vals[v]);
                    }
                }
            }
            for (int c = 0; c < kKBlock; ++c) dst[c] = row_f32[c];
        }
    }
}

// y[t][r0 + m] for m < nr, t < nt from the staged rows and one packed token panel. Also
// prefetches [pf, pf + pf_bytes) into L2, spread over the K loop: the next row tile's weights
// come from memory, and staging them without this would wait on every cache line.
inline void micro_kernel(const float* stage, const float* xpanel, int nkb, float* y,
                         std::size_t ldy, int nr, int nt, const char* pf, std::size_t pf_bytes) {
    const std::size_t pf_step = (pf_bytes / static_cast<std::size_t>(nkb) + 63) / 64 * 64;
    S::V acc[kRowsTile][kTokenVecs];
    for (int m = 0; m < kRowsTile; ++m)
        for (int v = 0; v < kTokenVecs; ++v) acc[m][v] = S::zero();
    for (int kb = 0; kb < nkb; ++kb) {
        const float* st = stage + static_cast<std::size_t>(kb) * kRowsTile * kKBlock;
        const float* xk = xpanel + static_cast<std::size_t>(kb) * kKBlock * kPanelTokens;
        for (std::size_t b = 0; b < pf_step && pf_bytes > 0; b += 64) {
            const std::size_t off = static_cast<std::size_t>(kb) * pf_step + b;
            if (off < pf_bytes) __builtin_prefetch(pf + off, 0, 2);
        }
        for (int k = 0; k < kKBlock; ++k) {
            S::V xv[kTokenVecs];
            for (int v = 0; v < kTokenVecs; ++v) xv[v] = S::load(xk + k * kPanelTokens + v * S::W);
            for (int m = 0; m < kRowsTile; ++m) {
                const S::V b = S::set1(st[m * kKBlock + k]);
                for (int v = 0; v < kTokenVecs; ++v) acc[m][v] = S::fma(b, xv[v], acc[m][v]);
            }
        }
    }
    // Lanes are tokens; Y is token-major, so go through a small tile. This is once per
    // K x rows x tokens of work, a few percent at K = 768.
    alignas(64) float tile[kRowsTile][kPanelTokens];
    for (int m = 0; m < kRowsTile; ++m)
        for (int v = 0; v < kTokenVecs; ++v) S::store(&tile[m][v * S::W], acc[m][v]);
    for (int t = 0; t < nt; ++t) {
        float* yt = y + static_cast<std::size_t>(t) * ldy;
        for (int m = 0; m < nr; ++m) yt[m] = tile[m][t];
    }
}

template <DType Type>
void gemm_packed_typed(const Matrix& w, int r0, int r1, const float* xp, int T, float* y,
                       float* stage) {
    const int kpad = round_up(w.cols, kKBlock);
    const int nkb = kpad / kKBlock;
    const std::size_t R = static_cast<std::size_t>(w.rows);
    const std::size_t panel_floats = static_cast<std::size_t>(kpad) * kPanelTokens;
    const int panels = (T + kPanelTokens - 1) / kPanelTokens;
    // Token blocks whose packed X fits in L2, so it is reused by every row tile from there.
    int block_panels = static_cast<int>(kXBlockBytes / (panel_floats * sizeof(float)));
    if (block_panels < 1) block_panels = 1;
    for (int pb = 0; pb < panels; pb += block_panels) {
        const int pe = imin(panels, pb + block_panels);
        for (int r = r0; r < r1; r += kRowsTile) {
            const int nr = imin(kRowsTile, r1 - r);
            stage_rows<Type>(w, r, nr, stage);
            // The rows staged next: the following tile, or the first one again for the next
            // token block.
            const int rn = r + kRowsTile < r1 ? r + kRowsTile : (pe < panels ? r0 : r1);
            const char* pf = rn < r1 ? reinterpret_cast<const char*>(w.row(rn)) : nullptr;
            const std::size_t pf_total =
                pf != nullptr ? static_cast<std::size_t>(imin(kRowsTile, r1 - rn)) * w.row_bytes
                              : 0;
            const std::size_t pf_per_panel = pf_total / static_cast<std::size_t>(pe - pb) + 64;
            for (int p = pb; p < pe; ++p) {
                const int t0 = p * kPanelTokens;
                const std::size_t pf_off = static_cast<std::size_t>(p - pb) * pf_per_panel;
                micro_kernel(
                    stage, xp + static_cast<std::size_t>(p) * panel_floats, nkb,
                    y + static_cast<std::size_t>(t0) * R + r, R, nr, imin(kPanelTokens, T - t0),
                    pf + pf_off,
                    pf_off < pf_total
                        ? (pf_total - pf_off < pf_per_panel ? pf_total - pf_off : pf_per_panel)
                        : 0);
            }
        }
    }
}

void gemm_packed(const Matrix& w, int r0, int r1, const float* xp, int T, float* y, float* stage) {
    switch (w.type) {
        case DType::F32:
            return gemm_packed_typed<DType::F32>(w, r0, r1, xp, T, y, stage);
        case DType::F16:
            return gemm_packed_typed<DType::F16>(w, r0, r1, xp, T, y, stage);
        case DType::BF16:
            return gemm_packed_typed<DType::BF16>(w, r0, r1, xp, T, y, stage);
        case DType::Q8_0:
            return gemm_packed_typed<DType::Q8_0>(w, r0, r1, xp, T, y, stage);
        case DType::Q5_1:
            return gemm_packed_typed<DType::Q5_1>(w, r0, r1, xp, T, y, stage);
        case DType::Q4_0:
            return gemm_packed_typed<DType::Q4_0>(w, r0, r1, xp, T, y, stage);
    }
}
