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
static_assert(kRowsTile <= kGemmMaxRowsTile, "the GEMM buffers are sized for kGemmMaxRowsTile");

inline int round_up(int v, int m) {
    return (v + m - 1) / m * m;
}

// Packs token panels [p0, p1) of X (T x C) into xp: panel p is Kpad x kPanelTokens floats,
// token innermost; tokens >= T and columns >= C are zero. Whole panels go through W x W
// register transposes; the ragged edges element by element.
void pack_x(const float* x, int T, int C, int p0, int p1, float* xp) {
    const int kpad = round_up(C, kKBlock);
    for (int p = p0; p < p1; ++p) {
        float* dst = xp + static_cast<std::size_t>(p) * kpad * kPanelTokens;
        const int t0 = p * kPanelTokens;
        const int nt = imin(kPanelTokens, T - t0);
        int k0 = 0;
        if (nt == kPanelTokens) {
            for (; k0 + S::W <= C; k0 += S::W) {
                for (int g = 0; g < kTokenVecs; ++g) {
                    S::transpose(x + static_cast<std::size_t>(t0 + g * S::W) * C + k0,
                                 static_cast<std::size_t>(C),
                                 dst + static_cast<std::size_t>(k0) * kPanelTokens + g * S::W,
                                 kPanelTokens);
                }
            }
        }
        for (int k = k0; k < kpad; ++k) {
            float* d = dst + static_cast<std::size_t>(k) * kPanelTokens;
            for (int t = 0; t < kPanelTokens; ++t) {
                d[t] = t < nt && k < C ? x[static_cast<std::size_t>(t0 + t) * C + k] : 0.0f;
            }
        }
    }
}

// Decodes block b of row r, in either layout (interleaved blocks are rebuilt first; the
// GEMM uses each decoded weight for every token, so that costs little).
template <DType Type>
inline void decode_row_block(const Matrix& w, int r, int b, S::V vals[kVecs]) {
    if constexpr (Type == DType::Q8_0 || Type == DType::Q5_1 || Type == DType::Q4_0) {
        if (w.interleaved()) {
            alignas(64) std::byte blk[64];
            x16_block<Type>(w, r, b, blk);
            decode_block<Type>(blk, 0, vals);
        } else {
            decode_block<Type>(w.row(r), b, vals);
        }
    } else {
        decode_block<Type>(w.row(r), b, vals);
    }
}

// Stages rows [r, r + nr) of w, columns [k0, k0 + kcn) (k0 and kcn multiples of kKBlock), as
// f32 in [k block][row][kKBlock] order; rows >= nr and columns >= cols are zero.
template <DType Type>
void stage_rows(const Matrix& w, int r, int nr, int k0, int kcn, float* stage) {
    const int C = w.cols;
    alignas(64) float row_f32[kKBlock];
    for (int m = 0; m < kRowsTile; ++m) {
        for (int kb = 0; kb < kcn / kKBlock; ++kb) {
            float* dst = stage + (static_cast<std::size_t>(kb) * kRowsTile + m) * kKBlock;
            const int kbeg = k0 + kb * kKBlock;
            const int kn = m < nr ? imin(kKBlock, C - kbeg) : 0;
            if (kn == kKBlock && Type == DType::F32) {
                const float* src = reinterpret_cast<const float*>(w.row(r + m)) + kbeg;
                for (int i = 0; i < kKBlock; i += S::W) S::store(dst + i, S::load(src + i));
                continue;
            }
            if (kn == kKBlock) {  // whole 32-value blocks (kKBlock is a multiple of kBlock)
                S::V vals[kVecs];
                for (int b = 0; b < kKBlock / kBlock; ++b) {
                    decode_row_block<Type>(w, r + m, kbeg / kBlock + b, vals);
                    for (int v = 0; v < kVecs; ++v) S::store(dst + b * kBlock + v * S::W, vals[v]);
                }
                continue;
            }
            // Ragged last block (or a padding row): element by element.
            for (int c = 0; c < kKBlock; ++c) row_f32[c] = 0.0f;
            if (kn > 0) {
                if (Type == DType::F32 || Type == DType::F16 || Type == DType::BF16) {
                    for (int c = 0; c < kn; ++c)
                        row_f32[c] = scalar_at(Type, w.row(r + m), kbeg + c);
                } else {
                    S::V vals[kVecs];
                    for (int b = 0; b * kBlock < kn; ++b) {
                        decode_row_block<Type>(w, r + m, kbeg / kBlock + b, vals);
                        for (int v = 0; v < kVecs; ++v)
                            S::store(row_f32 + b * kBlock + v * S::W, vals[v]);
                    }
                }
            }
            for (int c = 0; c < kKBlock; ++c) dst[c] = row_f32[c];
        }
    }
}

// One register tile: kRowsTile rows x kPanelTokens tokens over nkb staged column blocks.
// Partial sums live in `partial` (kRowsTile x kPanelTokens, token lanes) between column
// blocks; the last block writes y[t][m] for m < nr, t < nt instead.
// Cache lines of the weights staged next: `rows` row segments of `lines_per_row` lines.
struct PrefetchPlan {
    const char* base = nullptr;
    std::size_t stride = 0;
    int lines_per_row = 1;
    int lines = 0;
    void issue(int begin, int end) const {
        for (int i = begin; i < end && i < lines; ++i) {
            const int row = i / lines_per_row;
            __builtin_prefetch(base + static_cast<std::size_t>(row) * stride +
                                   static_cast<std::size_t>(i - row * lines_per_row) * 64,
                               0, 2);
        }
    }
};

// Also issues prefetches [pf_begin, pf_end) of `plan`, spread over the K loop: in one burst
// they would fill the line-fill buffers and stall the core. TV token vectors: kTokenVecs, or 1
// for a last panel of at most W tokens, which would otherwise multiply at least as many padding
// tokens as real ones.
template <int TV>
inline void micro_kernel(const float* stage, const float* xpanel, int nkb, float* partial,
                         bool first, float* y, std::size_t ldy, int nr, int nt,
                         const PrefetchPlan& plan, int pf_begin, int pf_end) {
    const int pf_per_kb = (pf_end - pf_begin + nkb - 1) / nkb;
    S::V acc[kRowsTile][TV];
    for (int m = 0; m < kRowsTile; ++m)
        for (int v = 0; v < TV; ++v)
            acc[m][v] = first ? S::zero() : S::load(partial + m * kPanelTokens + v * S::W);
    for (int kb = 0; kb < nkb; ++kb) {
        const float* st = stage + static_cast<std::size_t>(kb) * kRowsTile * kKBlock;
        const float* xk = xpanel + static_cast<std::size_t>(kb) * kKBlock * kPanelTokens;
        // One prefetch per 4 k steps (about 50 cycles), the rest after the block.
        int pf = pf_begin + kb * pf_per_kb;
        const int pf_stop = pf + pf_per_kb < pf_end ? pf + pf_per_kb : pf_end;
        for (int k4 = 0; k4 < kKBlock; k4 += 4) {
            if (pf < pf_stop) plan.issue(pf, pf + 1), ++pf;
            for (int k = k4; k < k4 + 4; ++k) {
                S::V xv[TV];
                for (int v = 0; v < TV; ++v) xv[v] = S::load(xk + k * kPanelTokens + v * S::W);
                for (int m = 0; m < kRowsTile; ++m) {
                    const S::V b = S::set1(st[m * kKBlock + k]);
                    for (int v = 0; v < TV; ++v) acc[m][v] = S::fma(b, xv[v], acc[m][v]);
                }
            }
        }
        if (pf < pf_stop) plan.issue(pf, pf_stop);
    }
    if (y == nullptr) {
        for (int m = 0; m < kRowsTile; ++m)
            for (int v = 0; v < TV; ++v) S::store(partial + m * kPanelTokens + v * S::W, acc[m][v]);
        return;
    }
    // Lanes are tokens and Y is token-major: transpose through a small tile (rows padded to
    // W), then each token's row segment is one contiguous copy.
    static_assert(kRowsTile <= S::W);
    alignas(64) float tile[S::W][kPanelTokens];
    alignas(64) float by_token[kPanelTokens][S::W];
    for (int m = 0; m < S::W; ++m)
        for (int v = 0; v < TV; ++v)
            S::store(&tile[m][v * S::W], m < kRowsTile ? acc[m][v] : S::zero());
    for (int v = 0; v < TV; ++v)
        S::transpose(&tile[0][v * S::W], kPanelTokens, &by_token[v * S::W][0], S::W);
    for (int t = 0; t < nt; ++t) {
        float* yt = y + static_cast<std::size_t>(t) * ldy;
        if (nr == kRowsTile) {
            std::memcpy(yt, by_token[t], sizeof(float) * kRowsTile);
        } else {
            for (int m = 0; m < nr; ++m) yt[m] = by_token[t][m];
        }
    }
}

// Loop order: groups of kGemmTilesPerGroup row tiles; within a group, column blocks of kKc;
// within a block, token panels, then the group's row tiles. The group's staged weights (a few
// tiles of kRowsTile x kKc) and one panel's slice of X stay in L1 while every tile of the group
// multiplies that slice: with row tiles outermost, each tile re-read all of X's panels from L2
// and the micro-kernel ran at two thirds of the FMA peak. Each weight is read from memory once
// per product; the weights staged next are prefetched while this block is multiplied.
constexpr int kKc = kGemmKc;
static_assert(kKc % kKBlock == 0);
constexpr int kGroupRows = kRowsTile * kGemmTilesPerGroup;
static_assert(kGemmRowBlock % kGroupRows == 0);

template <DType Type>
void gemm_packed_typed(const Matrix& w, int r0, int r1, const float* xp, int T, float* y,
                       float* stage, float* partial, int kbeg, int kend) {
    const int kpad = round_up(w.cols, kKBlock);
    const std::size_t R = static_cast<std::size_t>(w.rows);
    const std::size_t panel_floats = static_cast<std::size_t>(kpad) * kPanelTokens;
    const int panels = (T + kPanelTokens - 1) / kPanelTokens;
    const std::size_t tile_floats = static_cast<std::size_t>(kRowsTile) * kPanelTokens;
    const std::size_t stage_tile_floats = static_cast<std::size_t>(kKc) * kRowsTile;
    constexpr bool kPlainType = Type == DType::F32 || Type == DType::F16 || Type == DType::BF16;
    const std::size_t elt_bytes = kPlainType ? w.row_bytes / static_cast<std::size_t>(w.cols) : 0;
    for (int g0 = r0; g0 < r1; g0 += kGroupRows) {
        const int g1 = imin(r1, g0 + kGroupRows);
        const int tiles = (g1 - g0 + kRowsTile - 1) / kRowsTile;
        for (int k0 = kbeg; k0 < kend; k0 += kKc) {
            const int kcn = imin(kKc, kend - k0);
            const bool first = k0 == 0;
            const bool last = k0 + kcn >= kpad;
            for (int i = 0; i < tiles; ++i) {
                const int r = g0 + i * kRowsTile;
                stage_rows<Type>(w, r, imin(kRowsTile, g1 - r), k0, kcn,
                                 stage + static_cast<std::size_t>(i) * stage_tile_floats);
            }
            // The weights staged next: this group's next column block (block types: whole
            // rows, fetched with the first column block, as their byte offsets don't scale by
            // element), else the next group's first of this pass. After the range's last group
            // that is the group after the range: the pool hands a thread consecutive ranges, so
            // it is most likely this thread's next call.
            int rn = g0, kn0 = k0 + kKc, rend = g1;
            if (kn0 >= kend) rn = g1, kn0 = kbeg, rend = imin(static_cast<int>(R), g1 + kGroupRows);
            PrefetchPlan plan;
            if (rn < rend && kn0 == 0 && w.interleaved()) {
                // Whole groups of 16 interleaved rows.
                const int ga = rn / kInterleaveRows;
                const int gb = (rend + kInterleaveRows - 1) / kInterleaveRows;
                plan.base = reinterpret_cast<const char*>(w.data) +
                            static_cast<std::size_t>(ga) * w.group_bytes;
                plan.stride = w.group_bytes;
                plan.lines_per_row = static_cast<int>(w.group_bytes / 64);
                plan.lines = (gb - ga) * plan.lines_per_row;
            } else if (rn < rend && (kPlainType || kn0 == 0)) {
                const std::size_t b0 = kPlainType ? static_cast<std::size_t>(kn0) * elt_bytes : 0;
                std::size_t b1 =
                    kPlainType ? b0 + static_cast<std::size_t>(kKc) * elt_bytes : w.row_bytes;
                if (b1 > w.row_bytes) b1 = w.row_bytes;
                plan.base = reinterpret_cast<const char*>(w.row(rn)) + b0;
                plan.stride = w.row_bytes;
                plan.lines_per_row = static_cast<int>((b1 - b0 + 63) / 64);
                plan.lines = (rend - rn) * plan.lines_per_row;
            }
            const int calls = panels * tiles;
            const int pf_share = (plan.lines + calls - 1) / calls;
            for (int p = 0; p < panels; ++p) {
                const int t0 = p * kPanelTokens;
                const float* xslice = xp + static_cast<std::size_t>(p) * panel_floats +
                                      static_cast<std::size_t>(k0) * kPanelTokens;
                for (int i = 0; i < tiles; ++i) {
                    const int r = g0 + i * kRowsTile;
                    const int call = p * tiles + i;
                    float* tile_partial =
                        partial +
                        (static_cast<std::size_t>(r - r0) / kRowsTile * panels + p) * tile_floats;
                    const int nt = imin(kPanelTokens, T - t0);
                    const float* st = stage + static_cast<std::size_t>(i) * stage_tile_floats;
                    float* yt = last ? y + static_cast<std::size_t>(t0) * R + r : nullptr;
                    const int nr = imin(kRowsTile, g1 - r);
                    if (nt <= S::W) {
                        micro_kernel<1>(st, xslice, kcn / kKBlock, tile_partial, first, yt, R, nr,
                                        nt, plan, call * pf_share, (call + 1) * pf_share);
                    } else {
                        micro_kernel<kTokenVecs>(st, xslice, kcn / kKBlock, tile_partial, first, yt,
                                                 R, nr, nt, plan, call * pf_share,
                                                 (call + 1) * pf_share);
                    }
                }
            }
        }
    }
}

void gemm_packed(const Matrix& w, int r0, int r1, const float* xp, int T, float* y, float* stage,
                 float* partial, int k0, int k1) {
    switch (w.type) {
        case DType::F32:
            return gemm_packed_typed<DType::F32>(w, r0, r1, xp, T, y, stage, partial, k0, k1);
        case DType::F16:
            return gemm_packed_typed<DType::F16>(w, r0, r1, xp, T, y, stage, partial, k0, k1);
        case DType::BF16:
            return gemm_packed_typed<DType::BF16>(w, r0, r1, xp, T, y, stage, partial, k0, k1);
        case DType::Q8_0:
            return gemm_packed_typed<DType::Q8_0>(w, r0, r1, xp, T, y, stage, partial, k0, k1);
        case DType::Q5_1:
            return gemm_packed_typed<DType::Q5_1>(w, r0, r1, xp, T, y, stage, partial, k0, k1);
        case DType::Q4_0:
            return gemm_packed_typed<DType::Q4_0>(w, r0, r1, xp, T, y, stage, partial, k0, k1);
    }
}
