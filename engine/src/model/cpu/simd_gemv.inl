// Decode kernels (T <= kSmallBatch tokens): every weight row is read once and used for all
// tokens; memory-bound when the arithmetic per weight is small enough. Included inside
// namespace ravel::detail::cpu::<isa>::{anonymous}.
//
// Two paths:
//  - q8_0 / q4_0: the activations are quantized once per call to int8 blocks of 32 (one f32
//    scale each), and every weight block is an integer dot product scaled by d_w * d_x, as
//    llama.cpp does. Decoding weights to float costs several instructions per weight, which
//    made quantized decode compute-bound; the integer dot is one or two per 32 weights
//    (vpdpbusd on two blocks per 512-bit vector with AVX-512 VNNI; vpmaddubsw + vpmaddwd
//    otherwise).
//  - f32 / f16 / bf16 / q5_1: weights decoded to float, fused multiply-add.
// Both work on a few rows at a time, so activation loads are shared and enough independent
// accumulators cover the FMA latency. A row's arithmetic never depends on which rows are
// grouped with it, so results do not change with the thread split.

template <DType Type>
constexpr int block_bytes() {
    return Type == DType::F32    ? kBlock * 4
           : Type == DType::Q8_0 ? 34
           : Type == DType::Q5_1 ? 24
           : Type == DType::Q4_0 ? 18
                                 : kBlock * 2;
}

// ---------------------------------------------------------------------------------------
// Float path.

// Rows per group and accumulators per (row, token): as many independent FMA chains as the
// registers hold (one row's decoded block stays live too). One token reads one row at a time:
// a single sequential stream per thread, which the hardware prefetcher follows best (f16
// 262144x768 from DRAM on 2 threads: 29.0 -> 30.9 GB/s; v7 0.1B f16 decode 8% faster than
// four interleaved rows). Several tokens share each decoded row across more rows instead.
template <int NT>
constexpr int float_rows() {
    return NT == 1 ? 1 : (S::kRegs >= 32 ? 4 : 2);
}
template <int NT>
constexpr int float_chains() {
    return float_rows<NT>() * NT * 2 + kVecs + 1 <= S::kRegs ? 2 : 1;
}

// At least this far: four rows of a LoRA's second half (64 f16 columns) are only 512 bytes,
// too close to hide the latency from L3 (v7 0.1B decode, medians of 5 interleaved runs: q4_0
// 1.93 -> 1.85 ms, f16 8.26 -> 8.10 ms; 32 KiB was no better).
constexpr std::size_t kFloatMinAhead = kDecodePrefetchBytes;
template <DType Type, int NT, int NR>
inline void gemv_float_rows(const Matrix& w, int r, const float* x, float* y) {
    constexpr int K = float_chains<NT>();
    constexpr int kBytes = block_bytes<Type>();
    const int C = w.cols;
    const int blocks = C / kBlock;  // quantized types always have whole blocks
    const std::byte* rows[NR];
    for (int i = 0; i < NR; ++i) rows[i] = w.row(r + i);
    S::V acc[NR][NT][K];
    for (int i = 0; i < NR; ++i)
        for (int t = 0; t < NT; ++t)
            for (int k = 0; k < K; ++k) acc[i][t][k] = S::zero();
    const std::size_t row_ahead = 4 * NR * w.row_bytes;
    const std::size_t ahead = row_ahead > kFloatMinAhead ? row_ahead : kFloatMinAhead;
    for (int b = 0; b < blocks; ++b) {
        // The same block four row groups on, into L2: a row group is only a few KiB, and the
        // hardware prefetcher alone left f16 decode at 0.55 of the read bandwidth.
        for (int i = 0; i < NR; ++i) {
            for (int l = 0; l < kBytes; l += 64) {
                __builtin_prefetch(reinterpret_cast<const char*>(rows[i]) + b * kBytes + ahead + l,
                                   0, 2);
            }
        }
        // Activations are reloaded per row: L1 hits, and it leaves the registers to the
        // accumulators (the loads are not the bottleneck).
        for (int i = 0; i < NR; ++i) {
            S::V vals[kVecs];
            decode_block<Type>(rows[i], b, vals);
            for (int t = 0; t < NT; ++t) {
                const float* xt = x + static_cast<std::size_t>(t) * C + b * kBlock;
                for (int v = 0; v < kVecs; ++v)
                    acc[i][t][v % K] = S::fma(vals[v], S::load(xt + v * S::W), acc[i][t][v % K]);
            }
        }
    }
    for (int i = 0; i < NR; ++i) {
        for (int t = 0; t < NT; ++t) {
            S::V a = acc[i][t][0];
            for (int k = 1; k < K; ++k) a = S::add(a, acc[i][t][k]);
            float s = S::sum(a);
            for (int c = blocks * kBlock; c < C; ++c) {  // plain types only
                s += scalar_at(Type, rows[i], c) * x[static_cast<std::size_t>(t) * C + c];
            }
            y[static_cast<std::size_t>(t) * w.rows + r + i] = s;
        }
    }
}

template <DType Type, int NT>
void gemv_float(const Matrix& w, int r0, int r1, const float* x, float* y) {
    constexpr int NR = float_rows<NT>();
    int r = r0;
    for (; r + NR <= r1; r += NR) gemv_float_rows<Type, NT, NR>(w, r, x, y);
    for (; r < r1; ++r) gemv_float_rows<Type, NT, 1>(w, r, x, y);
}

// ---------------------------------------------------------------------------------------
// Integer path (q8_0, q4_0).

// Columns are handled in chunks of this many blocks, so the quantized activations and the
// per-row scales live on the stack (no allocation per call) and stay in L1/L2.
constexpr int kChunkBlocks = 128;
constexpr int kChunkPad = kChunkBlocks + 16;  // whole vectors for the scale loops

struct QuantizedX {
    alignas(64) std::int8_t q[kSmallBatch][kChunkBlocks * kBlock];
    alignas(64) float d[kSmallBatch][kChunkPad];  // scale per block (0 past the end)
    // -8 * q summed into the dot product's lanes for q4_0 (0 for q8_0): starting each block's
    // integer dot from it subtracts the weights' offset exactly.
    S::D8 bias[kSmallBatch][kChunkBlocks];
};

// Quantizes blocks [b0, b0 + nb) of each token's activations.
template <int NT, bool Q4>
inline void quantize_x(const float* x, int C, int b0, int nb, QuantizedX& qx) {
    for (int t = 0; t < NT; ++t) {
        const float* xt =
            x + static_cast<std::size_t>(t) * C + static_cast<std::size_t>(b0) * kBlock;
        for (int b = 0; b < nb; ++b) {
            S::quantize_block(xt + b * kBlock, qx.q[t] + b * kBlock, &qx.d[t][b]);
            const S::B32 xq = S::load_b32(qx.q[t] + b * kBlock);
            qx.bias[t][b] = Q4 ? S::q4_bias(xq) : S::d8_zero();
        }
        for (int b = nb; b < kChunkPad; ++b) qx.d[t][b] = 0.0f;
    }
}

template <int NT>
constexpr int int_rows() {
    return S::kRegs >= 32 ? 4 : (NT <= 2 ? 4 : 2);
}

// Adds rows [r, r + NR) of one column chunk into y (or stores, when `first`).
template <DType Type, int NT, int NR>
inline void gemv_int_rows(const Matrix& w, int r, int b0, int nb, const QuantizedX& qx, bool first,
                          float* y) {
    constexpr int kBytes = block_bytes<Type>();
    const std::byte* rows[NR];
    for (int i = 0; i < NR; ++i) rows[i] = w.row(r + i) + static_cast<std::size_t>(b0) * kBytes;

    // d_w * d_x per (row, token, block); the f16 d_w sit at the start of each block.
    alignas(64) float sc[NR][NT][kChunkPad];
    for (int i = 0; i < NR; ++i) {
        for (int b = 0; b < nb; b += S::kF8Lanes) {
            const S::F8 dw = S::f8_f16_strided(rows[i] + b * kBytes, kBytes, nb - b);
            for (int t = 0; t < NT; ++t)
                S::f8_store(sc[i][t] + b, S::f8_mul(dw, S::f8_load(qx.d[t] + b)));
        }
    }

    const std::size_t ahead = 2 * NR * w.row_bytes;
    S::F8 acc[NR][NT];
    for (int i = 0; i < NR; ++i)
        for (int t = 0; t < NT; ++t) acc[i][t] = S::f8_zero();
    for (int b = 0; b < nb; ++b) {
        S::B32 wv[NR];
        for (int i = 0; i < NR; ++i) {
            const std::byte* blk = rows[i] + b * kBytes;
            // The same block two row groups on: by the time that group starts (its scales
            // touch every cache line of its rows at once) its bytes are in cache.
            __builtin_prefetch(reinterpret_cast<const char*>(blk) + ahead, 0, 3);
            if constexpr (Type == DType::Q4_0) {
                wv[i] = S::q4_bytes(reinterpret_cast<const std::uint8_t*>(blk + 2));
            } else {
                wv[i] = S::load_b32(blk + 2);
            }
        }
        for (int t = 0; t < NT; ++t) {
            const S::B32 xv = S::load_b32(qx.q[t] + b * kBlock);
            const S::D8 bias = qx.bias[t][b];
            for (int i = 0; i < NR; ++i) {
                const S::D8 dot =
                    Type == DType::Q4_0 ? S::dot_u4(wv[i], xv, bias) : S::dot_q8(wv[i], xv, bias);
                acc[i][t] = S::f8_fma(dot, sc[i][t][b], acc[i][t]);
            }
        }
    }
    for (int i = 0; i < NR; ++i) {
        for (int t = 0; t < NT; ++t) {
            const float s = Type == DType::Q4_0 ? S::f8_sum_q4(acc[i][t]) : S::f8_sum(acc[i][t]);
            float& out = y[static_cast<std::size_t>(t) * w.rows + r + i];
            out = first ? s : out + s;
        }
    }
}

// q4_0 and q8_0 where the ISA offers it (AVX-512 VNNI): two blocks per 512-bit vector, which
// halves the instructions per weight (512-bit integer work issues on two ports instead of
// three, but does twice as much). The blocks' 4-byte groups alternate (A, B, A, B, ...), so one
// 64-bit broadcast of the adjacent scales (d_A, d_B) scales the dot product's lanes.
template <class X>
struct QuantizedXPairs {
    alignas(64) std::int8_t q[kSmallBatch][kChunkBlocks * kBlock];  // X::x_pair layout
    alignas(64) float d[kSmallBatch][kChunkPad];                    // scale per block
    typename X::D16 bias[kSmallBatch][kChunkBlocks / 2];            // the weights' offset, per pair
};

template <DType Type, int NT, class X>
inline void quantize_x_pairs(const float* x, int C, int b0, int nb, QuantizedXPairs<X>& qx) {
    alignas(64) std::int8_t lin[kChunkBlocks * kBlock + kBlock];
    for (int t = 0; t < NT; ++t) {
        const float* xt =
            x + static_cast<std::size_t>(t) * C + static_cast<std::size_t>(b0) * kBlock;
        for (int b = 0; b < nb; ++b)
            X::quantize_block(xt + b * kBlock, lin + b * kBlock, &qx.d[t][b]);
        std::memset(lin + nb * kBlock, 0, kBlock);  // the missing partner of an odd last block
        for (int b = nb; b < kChunkPad; ++b) qx.d[t][b] = 0.0f;
        for (int p = 0; p < (nb + 1) / 2; ++p) {
            std::int8_t* out = qx.q[t] + p * 2 * kBlock;
            X::x_pair(lin + 2 * p * kBlock, lin + (2 * p + 1) * kBlock, out);
            qx.bias[t][p] = Type == DType::Q4_0 ? X::q4_pair_bias(out) : X::q8_pair_bias(out);
        }
    }
}

template <DType Type, int NT, int NR, class X>
inline void gemv_pairs_rows(const Matrix& w, int r, int b0, int nb, const QuantizedXPairs<X>& qx,
                            bool first, float* y) {
    constexpr int kBytes = block_bytes<Type>();
    const std::byte* rows[NR];
    for (int i = 0; i < NR; ++i) rows[i] = w.row(r + i) + static_cast<std::size_t>(b0) * kBytes;
    alignas(64) float sc[NR][NT][kChunkPad];
    for (int i = 0; i < NR; ++i) {
        for (int b = 0; b < nb; b += X::W) {
            const typename X::V dw = X::load_f16_strided(rows[i] + b * kBytes, kBytes, nb - b);
            for (int t = 0; t < NT; ++t) X::store(sc[i][t] + b, X::mul(dw, X::load(qx.d[t] + b)));
        }
    }
    const std::size_t ahead = 2 * NR * w.row_bytes;
    typename X::F16 acc[NR][NT];
    for (int i = 0; i < NR; ++i)
        for (int t = 0; t < NT; ++t) acc[i][t] = X::f16_zero();
    const int pairs = (nb + 1) / 2;
    for (int p = 0; p < pairs; ++p) {
        const int b = 2 * p;
        // An odd last block pairs with itself; its partner's activations and scale are 0.
        const int partner = b + 1 < nb ? kBytes : 0;
        typename X::B64 wv[NR];
        for (int i = 0; i < NR; ++i) {
            const std::byte* blk = rows[i] + b * kBytes;
            __builtin_prefetch(reinterpret_cast<const char*>(blk) + ahead, 0, 3);
            if constexpr (Type == DType::Q8_0) {
                // A q8_0 pair spans 68 bytes, two lines at most: the second one too.
                __builtin_prefetch(reinterpret_cast<const char*>(blk) + ahead + 64, 0, 3);
            }
            const auto* qa = reinterpret_cast<const std::uint8_t*>(blk + 2);
            const auto* qb = reinterpret_cast<const std::uint8_t*>(blk + partner + 2);
            wv[i] = Type == DType::Q4_0 ? X::q4_pair_bytes(qa, qb) : X::q8_pair_bytes(qa, qb);
        }
        for (int t = 0; t < NT; ++t) {
            const typename X::B64 xv = X::load_b64(qx.q[t] + p * 2 * kBlock);
            const typename X::D16 bias = qx.bias[t][p];
            for (int i = 0; i < NR; ++i)
                acc[i][t] = X::f16_fma(X::dot_pair(wv[i], xv, bias), sc[i][t] + b, acc[i][t]);
        }
    }
    for (int i = 0; i < NR; ++i) {
        for (int t = 0; t < NT; ++t) {
            const float s = Type == DType::Q4_0 ? X::f16_sum_q4(acc[i][t]) : X::f16_sum(acc[i][t]);
            float& out = y[static_cast<std::size_t>(t) * w.rows + r + i];
            out = first ? s : out + s;
        }
    }
}

template <DType Type, int NT, class X>
void gemv_pairs(const Matrix& w, int r0, int r1, const float* x, float* y) {
    constexpr int NR = int_rows<NT>();
    const int blocks = w.cols / kBlock;
    QuantizedXPairs<X> qx;
    for (int b0 = 0; b0 < blocks; b0 += kChunkBlocks) {
        const int nb = imin(kChunkBlocks, blocks - b0);
        quantize_x_pairs<Type, NT, X>(x, w.cols, b0, nb, qx);
        int r = r0;
        for (; r + NR <= r1; r += NR)
            gemv_pairs_rows<Type, NT, NR, X>(w, r, b0, nb, qx, b0 == 0, y);
        for (; r < r1; ++r) gemv_pairs_rows<Type, NT, 1, X>(w, r, b0, nb, qx, b0 == 0, y);
    }
}

// Interleaved q8_0 / q5_1 / q4_0 (model/interleave.hpp), 16 rows at a time (S::x16_group): with
// VNNI one 512-bit load and one vpdpbusd cover 4 weights of each of the 16 rows; with AVX2 two
// 256-bit halves and vpmaddubsw + vpmaddwd. The 16 rows' scales are one load, and no scale
// gathers or per-row reductions are needed. From L2, one thread, 3072 x 768: q4_0 0.054 ->
// 0.0245 ms with VNNI (against gemv_pairs), 0.070 -> 0.047 ms with AVX2 (against
// gemv_int_rows).
struct QuantizedX16 {
    alignas(64) std::int8_t q[kSmallBatch][kChunkBlocks * kBlock];
    alignas(64) float d[kSmallBatch * kChunkBlocks];            // [t * kChunkBlocks + b]
    alignas(64) std::int32_t bias[kSmallBatch * kChunkBlocks];  // factor * sum(q) per block
};

// One block of activations for the interleaved kernels keeps factor * sum(q) beside its
// quants. The weights are stored unsigned, as vpdpbusd takes them (q4_0 as its nibbles 0..15,
// q8_0 as q + 128): their blocks' integer dot products start from -offset * sum(q) to take the
// offset back out. q5_1's weights are d q + m with q in 0..31: the dot product starts from 0,
// and the block's sum of activations scales the 16 rows' minima.
template <DType Type>
constexpr int x16_bias_factor() {
    return Type == DType::Q4_0 ? -8 : Type == DType::Q5_1 ? 1 : -128;
}

template <DType Type, int NT>
inline void quantize_x16(const float* x, int C, int b0, int nb, QuantizedX16& qx) {
    for (int t = 0; t < NT; ++t) {
        const float* xt =
            x + static_cast<std::size_t>(t) * C + static_cast<std::size_t>(b0) * kBlock;
        S::quantize_blocks(xt, nb, qx.q[t], &qx.d[t * kChunkBlocks], &qx.bias[t * kChunkBlocks],
                           x16_bias_factor<Type>());
    }
}

// How far ahead of the quants being read the prefetches run: half of what the float kernels
// use. On a Zen 5 guest, tokens alternating between two distances within one run (so both see
// the same phase of the host), medians over 300-500 tokens each against 16 KiB: 8 KiB v7 0.1B
// q4_0 -2.1 and -2.3%, q8_0 -1.5 and -2.5%, v7 0.4B q4_0 -1.6 and -2.0%, v4 169M q4_0 -3.0 and
// 0%; 4 KiB about the same (-1.1 to -4.0%); 2 KiB +1.5 to 3%, 32 KiB +3 to 4%, 64 KiB +8 to 10%.
constexpr std::size_t kX16Ahead = 8192;

// Rows [r0, r1) over column blocks [c0, c0 + nb) of an interleaved matrix: the first chunk
// (c0 == 0) stores y, later ones add. The chunk's activations: int8 at q (token rows `qstride`
// bytes apart), scales at d and factor * sum(q) at bias (token rows `bstride` apart).
template <DType Type, int NT, class X>
inline void x16_rows(const Matrix& w, int r0, int r1, int c0, int nb, const std::int8_t* q,
                     std::size_t qstride, const float* d, const std::int32_t* bias,
                     std::size_t bstride, float* y) {
    constexpr int kLines = interleave_lines(Type);
    const std::size_t scale_bytes = interleave_scale_bytes(Type, w.cols / kBlock);
    alignas(64) float out[kSmallBatch * kInterleaveRows];
    const int g0 = r0 / kInterleaveRows;
    const int g1 = (r1 + kInterleaveRows - 1) / kInterleaveRows;
    for (int g = g0; g < g1; ++g) {
        const std::byte* group = w.data + static_cast<std::size_t>(g) * w.group_bytes;
        const char* pf = reinterpret_cast<const char*>(group) + kX16Ahead;
        // The prefetches below follow the quants; the scales a group starts with are fetched
        // here, as far ahead.
        if (c0 == 0) {
            for (std::size_t l = 0; l < scale_bytes; l += 64) __builtin_prefetch(pf + l, 0, 2);
        }
        const std::size_t quant_offset = scale_bytes + static_cast<std::size_t>(c0) * kLines * 64;
        X::template x16_group<Type, NT>(
            group + static_cast<std::size_t>(c0) * interleave_scale_stride(Type),
            group + quant_offset, nb, q, qstride, d, bias, bstride, pf + quant_offset, out);
        const int lo = g * kInterleaveRows > r0 ? g * kInterleaveRows : r0;
        const int hi = imin(r1, (g + 1) * kInterleaveRows);
        for (int t = 0; t < NT; ++t) {
            float* yt = y + static_cast<std::size_t>(t) * w.rows;
            const float* ot = out + t * kInterleaveRows;  // row g * 16 + i at ot[i]
            for (int r = lo; r < hi; ++r) {
                const float v = ot[r - g * kInterleaveRows];
                yt[r] = c0 == 0 ? v : yt[r] + v;
            }
        }
    }
}

template <DType Type, int NT, class X>
void gemv_x16(const Matrix& w, int r0, int r1, const float* x, float* y) {
    const int blocks = w.cols / kBlock;
    QuantizedX16 local;
    QuantizedX16* cached = nullptr;
    // One chunk of columns (every shape of ours) is quantized once per thread and region.
    const std::uint64_t region = current_region();
    if (region != 0 && blocks <= kChunkBlocks) {
        if (ActivationCache* c = activation_cache(sizeof(QuantizedX16), x)) {
            cached = reinterpret_cast<QuantizedX16*>(c->data);
            constexpr int kKind = static_cast<int>(Type);
            if (!c->holds(x, w.cols, NT, kKind, region)) {
                c->region = 0;
                quantize_x16<Type, NT>(x, w.cols, 0, blocks, *cached);
                *c = ActivationCache{x, w.cols, NT, kKind, region, c->data};
            }
        }
    }
    QuantizedX16& qx = cached != nullptr ? *cached : local;
    for (int c0 = 0; c0 < blocks; c0 += kChunkBlocks) {
        const int nb = imin(kChunkBlocks, blocks - c0);
        if (cached == nullptr) quantize_x16<Type, NT>(x, w.cols, c0, nb, qx);
        x16_rows<Type, NT, X>(w, r0, r1, c0, nb, qx.q[0], sizeof qx.q[0], qx.d, qx.bias,
                              kChunkBlocks, y);
    }
}

// gemv_x16 from activations quantized beforehand (quantize_columns), for xq.tokens == NT.
template <DType Type, int NT, class X>
void gemv_x16_quantized(const Matrix& w, int r0, int r1, const QuantizedTokens& xq, float* y) {
    const int blocks = w.cols / kBlock;
    const auto bstride = static_cast<std::size_t>(blocks);
    for (int c0 = 0; c0 < blocks; c0 += kChunkBlocks) {
        x16_rows<Type, NT, X>(w, r0, r1, c0, imin(kChunkBlocks, blocks - c0),
                              xq.q + static_cast<std::size_t>(c0) * kBlock,
                              static_cast<std::size_t>(xq.cols), xq.d + c0, xq.bias + c0, bstride,
                              y);
    }
}

// Sequence mode on interleaved matrices: each group of 16 rows stays in L1 while every
// kX16GemmTokens tokens of the product pass over it through the decode kernel's x16_group,
// so the weights are unpacked once per group and pass instead of staged as floats, and each
// vpdpbusd does 64 multiply-adds where an FMA does 16.
template <DType Type>
void quantize_tokens_typed(const float* x, int t0, int t1, QuantizedTokens& xq) {
    const int blocks = xq.cols / kBlock;
    for (int t = t0; t < t1; ++t) {
        const std::size_t row = static_cast<std::size_t>(t) * xq.cols;
        const std::size_t at = static_cast<std::size_t>(t) * blocks;
        S::quantize_blocks(x + row, blocks, xq.q + row, xq.d + at, xq.bias + at,
                           x16_bias_factor<Type>());
    }
}

template <DType Type>
void quantize_columns_typed(const float* x, int c0, int c1, QuantizedTokens& xq) {
    const int blocks = xq.cols / kBlock;
    for (int t = 0; t < xq.tokens; ++t) {
        const std::size_t row = static_cast<std::size_t>(t) * xq.cols + c0;
        const std::size_t at = static_cast<std::size_t>(t) * blocks + c0 / kBlock;
        S::quantize_blocks(x + row, (c1 - c0) / kBlock, xq.q + row, xq.d + at, xq.bias + at,
                           x16_bias_factor<Type>());
    }
}

void quantize_columns(DType type, const float* x, int c0, int c1, QuantizedTokens& xq) {
    if (type == DType::Q4_0) {
        quantize_columns_typed<DType::Q4_0>(x, c0, c1, xq);
    } else if (type == DType::Q5_1) {
        quantize_columns_typed<DType::Q5_1>(x, c0, c1, xq);
    } else {
        quantize_columns_typed<DType::Q8_0>(x, c0, c1, xq);
    }
}

void quantize_tokens(DType type, const float* x, int t0, int t1, QuantizedTokens& xq) {
    if (type == DType::Q4_0) {
        quantize_tokens_typed<DType::Q4_0>(x, t0, t1, xq);
    } else if (type == DType::Q5_1) {
        quantize_tokens_typed<DType::Q5_1>(x, t0, t1, xq);
    } else {
        quantize_tokens_typed<DType::Q8_0>(x, t0, t1, xq);
    }
}

template <DType Type, class X>
void gemm_x16_typed(const Matrix& w, int g0, int g1, const QuantizedTokens& xq, float* y) {
    constexpr int NT = kX16GemmTokens;
    const int blocks = w.cols / kBlock;
    const std::size_t scale_bytes = interleave_scale_bytes(Type, blocks);
    const auto bstride = static_cast<std::size_t>(blocks);
    alignas(64) float out[NT * kInterleaveRows];
    for (int g = g0; g < g1; ++g) {
        const std::byte* group = w.data + static_cast<std::size_t>(g) * w.group_bytes;
        const int r0 = g * kInterleaveRows;
        const int rows = imin(kInterleaveRows, w.rows - r0);
        for (int t0 = 0; t0 < xq.tokens; t0 += NT) {
            // The first pass brings the next group into L2; later passes find theirs in L1.
            const char* pf =
                reinterpret_cast<const char*>(group) + (t0 == 0 ? w.group_bytes : 0) + scale_bytes;
            X::template x16_group<Type, NT>(group, group + scale_bytes, blocks,
                                            xq.q + static_cast<std::size_t>(t0) * xq.cols,
                                            static_cast<std::size_t>(xq.cols), xq.d + t0 * bstride,
                                            xq.bias + t0 * bstride, bstride, pf, out);
            const int nt = imin(NT, xq.tokens - t0);
            for (int t = 0; t < nt; ++t) {
                float* yt = y + static_cast<std::size_t>(t0 + t) * w.rows + r0;
                for (int i = 0; i < rows; ++i) yt[i] = out[t * kInterleaveRows + i];
            }
        }
    }
}

template <class X>
void gemm_x16_on(const Matrix& w, int g0, int g1, const QuantizedTokens& xq, float* y) {
    if constexpr (X::kX16) {
        if (w.type == DType::Q4_0) {
            gemm_x16_typed<DType::Q4_0, X>(w, g0, g1, xq, y);
        } else if (w.type == DType::Q5_1) {
            gemm_x16_typed<DType::Q5_1, X>(w, g0, g1, xq, y);
        } else {
            gemm_x16_typed<DType::Q8_0, X>(w, g0, g1, xq, y);
        }
    }
}

void gemm_x16(const Matrix& w, int g0, int g1, const QuantizedTokens& xq, float* y) {
    gemm_x16_on<S>(w, g0, g1, xq, y);
}

template <DType Type>
void gemv_quantized_typed(const Matrix& w, int r0, int r1, const QuantizedTokens& xq, float* y) {
    if constexpr (S::kX16) {
        switch (xq.tokens) {
            case 1:
                return gemv_x16_quantized<Type, 1, S>(w, r0, r1, xq, y);
            case 2:
                return gemv_x16_quantized<Type, 2, S>(w, r0, r1, xq, y);
            case 3:
                return gemv_x16_quantized<Type, 3, S>(w, r0, r1, xq, y);
            default:
                return gemv_x16_quantized<Type, kSmallBatch, S>(w, r0, r1, xq, y);
        }
    }
}

void gemv_quantized(const Matrix& w, int r0, int r1, const QuantizedTokens& xq, float* y) {
    if (w.type == DType::Q4_0) {
        gemv_quantized_typed<DType::Q4_0>(w, r0, r1, xq, y);
    } else if (w.type == DType::Q5_1) {
        gemv_quantized_typed<DType::Q5_1>(w, r0, r1, xq, y);
    } else {
        gemv_quantized_typed<DType::Q8_0>(w, r0, r1, xq, y);
    }
}

// Interleaved matrices on the portable kernels, which have no 16-row kernel (a load there keeps
// rows, so only tests hand them one): each block rebuilt in the row layout, a row at a time.
template <DType Type, int NT>
void gemv_x16_portable(const Matrix& w, int r0, int r1, const float* x, float* y) {
    if constexpr (Type == DType::Q5_1) {
        // Decoded to float, as a row-layout q5_1 matrix is there; each block once for all
        // tokens.
        alignas(64) std::byte blk[64];
        for (int r = r0; r < r1; ++r) {
            S::V acc[NT];
            for (int t = 0; t < NT; ++t) acc[t] = S::zero();
            for (int b = 0; b < w.cols / kBlock; ++b) {
                x16_block<Type>(w, r, b, blk);
                S::V vals[kVecs];
                decode_block<Type>(blk, 0, vals);
                for (int t = 0; t < NT; ++t) {
                    const float* xb = x + static_cast<std::size_t>(t) * w.cols + b * kBlock;
                    for (int v = 0; v < kVecs; ++v)
                        acc[t] = S::fma(vals[v], S::load(xb + v * S::W), acc[t]);
                }
            }
            for (int t = 0; t < NT; ++t)
                y[static_cast<std::size_t>(t) * w.rows + r] = S::sum(acc[t]);
        }
        return;
    }
    constexpr bool kQ4 = Type == DType::Q4_0;
    const int blocks = w.cols / kBlock;
    QuantizedX qx;
    alignas(64) std::byte blk[64];
    for (int c0 = 0; c0 < blocks; c0 += kChunkBlocks) {
        const int nb = imin(kChunkBlocks, blocks - c0);
        quantize_x<NT, kQ4>(x, w.cols, c0, nb, qx);
        for (int r = r0; r < r1; ++r) {
            S::F8 acc[NT];
            for (int t = 0; t < NT; ++t) acc[t] = S::f8_zero();
            for (int b = 0; b < nb; ++b) {
                x16_block<Type>(w, r, c0 + b, blk);
                const float dw = half_at(blk);
                const auto* qs = reinterpret_cast<const std::uint8_t*>(blk + 2);
                const S::B32 wv = kQ4 ? S::q4_bytes(qs) : S::load_b32(qs);
                for (int t = 0; t < NT; ++t) {
                    const S::B32 xv = S::load_b32(qx.q[t] + b * kBlock);
                    const S::D8 dot =
                        kQ4 ? S::dot_u4(wv, xv, qx.bias[t][b]) : S::dot_q8(wv, xv, qx.bias[t][b]);
                    acc[t] = S::f8_fma(dot, dw * qx.d[t][b], acc[t]);
                }
            }
            for (int t = 0; t < NT; ++t) {
                const float s = kQ4 ? S::f8_sum_q4(acc[t]) : S::f8_sum(acc[t]);
                float& o = y[static_cast<std::size_t>(t) * w.rows + r];
                o = c0 == 0 ? s : o + s;
            }
        }
    }
}

template <DType Type, int NT>
void gemv_interleaved(const Matrix& w, int r0, int r1, const float* x, float* y) {
    if constexpr (S::kX16) {
        gemv_x16<Type, NT, S>(w, r0, r1, x, y);
    } else {
        gemv_x16_portable<Type, NT>(w, r0, r1, x, y);
    }
}

template <DType Type, int NT>
void gemv_int(const Matrix& w, int r0, int r1, const float* x, float* y) {
    if (w.interleaved()) return gemv_interleaved<Type, NT>(w, r0, r1, x, y);
    if constexpr (S::kInt8Pairs) {
        gemv_pairs<Type, NT, S>(w, r0, r1, x, y);
    } else {
        constexpr int NR = int_rows<NT>();
        const int blocks = w.cols / kBlock;
        QuantizedX qx;
        for (int b0 = 0; b0 < blocks; b0 += kChunkBlocks) {
            const int nb = imin(kChunkBlocks, blocks - b0);
            quantize_x<NT, Type == DType::Q4_0>(x, w.cols, b0, nb, qx);
            int r = r0;
            for (; r + NR <= r1; r += NR) gemv_int_rows<Type, NT, NR>(w, r, b0, nb, qx, b0 == 0, y);
            for (; r < r1; ++r) gemv_int_rows<Type, NT, 1>(w, r, b0, nb, qx, b0 == 0, y);
        }
    }
}

// ---------------------------------------------------------------------------------------

template <DType Type, int NT>
void gemv_fixed(const Matrix& w, int r0, int r1, const float* x, float* y) {
    if constexpr (Type == DType::Q8_0 || Type == DType::Q4_0) {
        gemv_int<Type, NT>(w, r0, r1, x, y);
    } else if constexpr (Type == DType::Q5_1) {
        // Interleaved, the integer kernel (the activations quantized as for q4_0); in rows
        // (where the CPU has no 16-row kernel), decoded to float.
        if (w.interleaved()) {
            gemv_interleaved<Type, NT>(w, r0, r1, x, y);
        } else {
            gemv_float<Type, NT>(w, r0, r1, x, y);
        }
    } else {
        gemv_float<Type, NT>(w, r0, r1, x, y);
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
