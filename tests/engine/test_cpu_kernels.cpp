// Every CPU kernel (each instruction set this machine has, each weight type, one-token and
// GEMM paths, 1 and several threads) against a double-precision reference on the same
// dequantized weights, on awkward sizes that are not multiples of the SIMD width.
// The one-token kernels for q8_0 / q4_0 (and interleaved q5_1) quantize the activations to
// int8 blocks (as llama.cpp does); they are checked tightly against a reference doing the same
// quantization, and within the quantization's error bound against the exact product.
#include <QtTest>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>

#include "model/cpu/activation_cache.hpp"
#include "model/cpu/kernels.hpp"
#include "model/cpu/thread_pool.hpp"
#include "model/interleave.hpp"
#include "model/matrix.hpp"
#include "ravel/quant.hpp"

using namespace ravel;
using namespace ravel::detail;

namespace {

std::vector<float> random_values(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// Reference: dequantize each row with the scalar routine, then sum in double.
void reference(const Matrix& w, const float* x, int T, std::vector<double>& y,
               std::vector<double>& mag) {
    std::vector<float> row(static_cast<std::size_t>(w.cols));
    y.assign(static_cast<std::size_t>(T) * w.rows, 0.0);
    mag.assign(y.size(), 0.0);
    for (int r = 0; r < w.rows; ++r) {
        QVERIFY(
            dequantize_row(w.type, w.row(r), static_cast<std::size_t>(w.cols), row.data()).ok());
        for (int t = 0; t < T; ++t) {
            double s = 0, m = 0;
            for (int c = 0; c < w.cols; ++c) {
                const double p =
                    static_cast<double>(row[c]) * x[static_cast<std::size_t>(t) * w.cols + c];
                s += p;
                m += std::fabs(p);
            }
            y[static_cast<std::size_t>(t) * w.rows + r] = s;
            mag[static_cast<std::size_t>(t) * w.rows + r] = m;
        }
    }
}

// The decode kernels' activation quantization, written out independently: blocks of 32 with
// one scale d = max|x| / 127 and q = x * (1 / d) rounded to nearest (even), all in float;
// blocks with max|x| < 1e-20 become d = 0, q = 0.
void quantize_activations(const float* x, int n, std::vector<int>& q, std::vector<float>& d) {
    q.assign(static_cast<std::size_t>(n), 0);
    d.assign(static_cast<std::size_t>(n / 32), 0.0f);
    for (int b = 0; b < n / 32; ++b) {
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
        const float scale = amax >= 1e-20f ? amax / 127.0f : 0.0f;  // tiny blocks count as 0
        const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
        d[static_cast<std::size_t>(b)] = scale;
        for (int i = 0; i < 32; ++i)
            q[static_cast<std::size_t>(b * 32 + i)] =
                static_cast<int>(std::nearbyint(x[b * 32 + i] * inv));
    }
}

// Reference for the integer decode path (q8_0, q5_1, q4_0): sum over blocks of
// d_w * d_x * sum(q_w * q_x) (+ m_w * d_x * sum(q_x) for q5_1's minimum), from the raw block
// bytes, in double. `mag` bounds the float rounding; `qerr` bounds what quantizing the
// activations may cost against the exact product (half a step of x per weight: sum |w| d_x / 2).
void reference_int(const Matrix& w, const float* x, int T, std::vector<double>& y,
                   std::vector<double>& mag, std::vector<double>& qerr) {
    y.assign(static_cast<std::size_t>(T) * w.rows, 0.0);
    mag.assign(y.size(), 0.0);
    qerr.assign(y.size(), 0.0);
    const int blocks = w.cols / 32;
    const std::size_t block_bytes = w.type == DType::Q8_0 ? 34 : w.type == DType::Q5_1 ? 24 : 18;
    for (int t = 0; t < T; ++t) {
        std::vector<int> xq;
        std::vector<float> xd;
        quantize_activations(x + static_cast<std::size_t>(t) * w.cols, w.cols, xq, xd);
        for (int r = 0; r < w.rows; ++r) {
            double s = 0, m = 0, e = 0;
            for (int b = 0; b < blocks; ++b) {
                const std::byte* blk = w.row(r) + b * block_bytes;
                std::uint16_t h;
                std::memcpy(&h, blk, 2);
                const double dw = f16_to_f32(h);
                double mw = 0.0;  // q5_1's minimum
                std::uint32_t qh = 0;
                if (w.type == DType::Q5_1) {
                    std::memcpy(&h, blk + 2, 2);
                    mw = f16_to_f32(h);
                    std::memcpy(&qh, blk + 4, 4);
                }
                long dot = 0, dot_abs = 0, xsum = 0, xsum_abs = 0;
                double wsum = 0;
                for (int i = 0; i < 32; ++i) {
                    int wq;
                    if (w.type == DType::Q8_0) {
                        wq = static_cast<std::int8_t>(blk[2 + i]);
                    } else if (w.type == DType::Q5_1) {
                        const auto byte = static_cast<unsigned>(blk[8 + (i & 15)]);
                        wq = static_cast<int>((i < 16 ? (byte & 15u) : (byte >> 4)) |
                                              (((qh >> i) & 1u) << 4));
                    } else {
                        const auto byte = static_cast<unsigned>(blk[2 + (i & 15)]);
                        wq = static_cast<int>(i < 16 ? (byte & 15u) : (byte >> 4)) - 8;
                    }
                    const int xi = xq[static_cast<std::size_t>(b * 32 + i)];
                    dot += wq * xi;
                    dot_abs += std::abs(wq * xi);
                    xsum += xi;
                    xsum_abs += std::abs(xi);
                    wsum += std::fabs(dw * wq + mw);
                }
                const double dx = xd[static_cast<std::size_t>(b)];
                s += dw * dx * static_cast<double>(dot) + mw * dx * static_cast<double>(xsum);
                m += std::fabs(dw * dx) * static_cast<double>(dot_abs) +
                     std::fabs(mw * dx) * static_cast<double>(xsum_abs);
                e += wsum * dx / 2;
            }
            const std::size_t i = static_cast<std::size_t>(t) * w.rows + r;
            y[i] = s;
            mag[i] = m;
            qerr[i] = e;
        }
    }
}

// Whether the table's one-token kernel quantizes the activations for w: always for q8_0 and
// q4_0; for q5_1 where it is interleaved and the table has a 16-row kernel (else decoded to float).
bool int_decode(const cpu::KernelTable& k, const Matrix& w) {
    return w.type == DType::Q8_0 || w.type == DType::Q4_0 ||
           (w.type == DType::Q5_1 && w.interleaved() && k.interleave_quantized);
}

}  // namespace

class CpuKernelsTest : public QObject {
    Q_OBJECT

  private slots:
    void kernels_match_reference_data() {
        QTest::addColumn<int>("isa");
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("tokens");
        QTest::addColumn<bool>("interleaved");
        const cpu::Isa isas[] = {cpu::Isa::Generic, cpu::Isa::Avx2, cpu::Isa::Avx2Vnni,
                                 cpu::Isa::Avx512, cpu::Isa::Avx512Vnni};
        const DType types[] = {DType::F32,  DType::F16,  DType::BF16,
                               DType::Q8_0, DType::Q5_1, DType::Q4_0};
        // 4160 and 8224 columns span several of the decode kernels' 4096-column chunks; 53 x
        // 2080 several row grains and GEMM passes of kGemmKPass columns, the last one short.
        const int shapes[][2] = {{1, 32},   {37, 96},  {61, 160}, {130, 288},
                                 {7, 1024}, {6, 4160}, {3, 8224}, {53, 2080}};
        const int plain_cols[] = {5, 17, 41, 263};  // not multiples of any SIMD width
        for (auto isa : isas) {
            const char* isa_name = cpu::kernels_for(isa).isa;
            for (auto type : types) {
                for (const auto& s : shapes) {
                    // 5, 24 and 70 tokens end the GEMM in a panel of at most one vector of
                    // tokens or of more, with 256- and with 512-bit vectors.
                    for (int T : {1, 2, 3, 4, 5, 24, 70}) {
                        QTest::addRow("%s/%s/%dx%d/T%d", isa_name, dtype_name(type).data(), s[0],
                                      s[1], T)
                            << int(isa) << int(type) << s[0] << s[1] << T << false;
                        if (interleavable(type)) {
                            QTest::addRow("%s/%s-x16/%dx%d/T%d", isa_name, dtype_name(type).data(),
                                          s[0], s[1], T)
                                << int(isa) << int(type) << s[0] << s[1] << T << true;
                        }
                    }
                }
                if (dtype_block_elements(type) == 1) {
                    for (int c : plain_cols) {
                        // 70 tokens: whole GEMM panels with ragged columns.
                        for (int T : {1, 2, 9, 70}) {
                            QTest::addRow("%s/%s/11x%d/T%d", isa_name, dtype_name(type).data(), c,
                                          T)
                                << int(isa) << int(type) << 11 << c << T << false;
                        }
                    }
                }
            }
        }
    }

    void kernels_match_reference() {
        QFETCH(int, isa);
        QFETCH(int, dtype);
        QFETCH(int, rows);
        QFETCH(int, cols);
        QFETCH(int, tokens);
        QFETCH(bool, interleaved);
        if (!cpu::cpu_supports(static_cast<cpu::Isa>(isa)))
            QSKIP("this CPU lacks the instruction set");
        const auto values =
            random_values(static_cast<std::size_t>(rows) * cols, 1u + rows * 7u + cols);
        auto by_rows = make_matrix(values.data(), rows, cols, static_cast<DType>(dtype));
        QVERIFY(by_rows.ok());
        QCOMPARE(int(by_rows->type), dtype);
        const auto x = random_values(static_cast<std::size_t>(tokens) * cols, 99u + tokens);
        // The references read the row layout; an interleaved copy holds the same blocks.
        std::vector<double> want, mag;
        reference(*by_rows, x.data(), tokens, want, mag);
        Result<Matrix> copy = make_error("not interleaved");
        if (interleaved) {
            copy = interleave_matrix(*by_rows, nullptr);
            QVERIFY(copy.ok());
            QVERIFY(copy->interleaved());
        }
        const Matrix* w = interleaved ? &*copy : &*by_rows;

        const cpu::KernelTable& k = cpu::kernels_for(static_cast<cpu::Isa>(isa));
        // Both kernels in two uneven row ranges, as two threads would split them.
        const int split = rows > 4 ? (rows / 2) / 4 * 4 + 1 : rows;
        std::vector<float> got(want.size(), NAN);
        if (tokens <= cpu::kSmallBatch) {
            k.gemv(*w, 0, split, x.data(), tokens, got.data());
            if (split < rows) k.gemv(*w, split, rows, x.data(), tokens, got.data());
        }
        std::vector<float> got_gemm(want.size(), NAN);
        QVERIFY(cpu::gemm_rows(k, *w, 0, split, x.data(), tokens, got_gemm.data()));
        if (split < rows)
            QVERIFY(cpu::gemm_rows(k, *w, split, rows, x.data(), tokens, got_gemm.data()));

        const bool int_path = tokens <= cpu::kSmallBatch && int_decode(k, *w);
        std::vector<double> want_int, mag_int, qerr;
        if (int_path) reference_int(*by_rows, x.data(), tokens, want_int, mag_int, qerr);
        for (std::size_t i = 0; i < want.size(); ++i) {
            const double tol = 2e-6 * mag[i] + 1e-6;
            if (int_path) {
                // Tight: the same quantized activations. Loose: the exact product, within
                // what quantizing the activations can cost.
                const double tol_int = 2e-6 * mag_int[i] + 1e-6;
                if (!(std::fabs(got[i] - want_int[i]) <= tol_int)) {
                    QFAIL(qPrintable(QStringLiteral("gemv [%1]: %2 vs %3 (quantized reference)")
                                         .arg(i)
                                         .arg(got[i])
                                         .arg(want_int[i])));
                }
                if (!(std::fabs(got[i] - want[i]) <= 1.01 * qerr[i] + tol)) {
                    QFAIL(qPrintable(QStringLiteral("gemv [%1]: %2 vs %3 (exact, bound %4)")
                                         .arg(i)
                                         .arg(got[i])
                                         .arg(want[i])
                                         .arg(qerr[i])));
                }
            } else if (tokens <= cpu::kSmallBatch && !(std::fabs(got[i] - want[i]) <= tol)) {
                QFAIL(qPrintable(
                    QStringLiteral("gemv [%1]: %2 vs %3").arg(i).arg(got[i]).arg(want[i])));
            }
            if (!(std::fabs(got_gemm[i] - want[i]) <= tol)) {
                QFAIL(qPrintable(
                    QStringLiteral("gemm [%1]: %2 vs %3").arg(i).arg(got_gemm[i]).arg(want[i])));
            }
        }

        // The sequence-mode driver on the row layout: whole rows on one thread, or row grains
        // over a pool and, for rows longer than kGemmKPass, passes over column ranges. The
        // same sums in the same order as gemm_rows, so the same bits.
        if (tokens > cpu::kSmallBatch && !interleaved) {
            std::vector<float> alone(want.size(), NAN), pooled(want.size(), NAN);
            QVERIFY(cpu::gemm_parallel(k, *w, x.data(), tokens, alone.data(), nullptr));
            ThreadPool pool(2);
            QVERIFY(cpu::gemm_parallel(k, *w, x.data(), tokens, pooled.data(), &pool));
            QVERIFY(alone == got_gemm);
            QVERIFY(pooled == got_gemm);
        }

        // Sequence mode on the integer kernels (interleaved, where the table has them): the
        // same bounds as the decode kernel, for every token count; a pool splits the groups
        // and the quantizing without changing a bit.
        if (interleaved && k.gemm_x16 != nullptr) {
            std::vector<float> got_x16(want.size(), NAN), got_pool(want.size(), NAN);
            QVERIFY(cpu::gemm_x16_parallel(k, *w, x.data(), tokens, got_x16.data(), nullptr));
            ThreadPool pool(3);
            QVERIFY(cpu::gemm_x16_parallel(k, *w, x.data(), tokens, got_pool.data(), &pool));
            QVERIFY(got_pool == got_x16);
            reference_int(*by_rows, x.data(), tokens, want_int, mag_int, qerr);
            for (std::size_t i = 0; i < want.size(); ++i) {
                const double tol_int = 2e-6 * mag_int[i] + 1e-6;
                if (!(std::fabs(got_x16[i] - want_int[i]) <= tol_int) ||
                    !(std::fabs(got_x16[i] - want[i]) <= 1.01 * qerr[i] + 2e-6 * mag[i] + 1e-6)) {
                    QFAIL(qPrintable(QStringLiteral("gemm_x16 [%1]: %2 vs %3 (quantized), %4")
                                         .arg(i)
                                         .arg(got_x16[i])
                                         .arg(want_int[i])
                                         .arg(want[i])));
                }
            }
        }
    }

    // The integer kernels at the ends of their ranges: every q4_0 nibble 15 but one (q8_0: +127
    // with one -127; q5_1: 31 with one 0) against activations that quantize to +-127, where the
    // 16-bit sums of vpmaddubsw are closest to overflowing. Every instruction set, both layouts,
    // decode and sequence mode, against the quantized reference (q5_1 in rows: the float path,
    // within its rounding of the same products).
    void integer_kernels_at_the_ends_of_their_ranges() {
        const int rows = 20, cols = 256;
        std::vector<float> values(static_cast<std::size_t>(rows) * cols);
        for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q5_1}) {
            // One weight of each block at -1 sets the scale; the others are the largest
            // positive step of the type (+127 of q8_0, nibble 15 of q4_0, 31 of q5_1).
            const float top = type == DType::Q4_0 ? 0.875f : 1.0f;
            for (std::size_t i = 0; i < values.size(); ++i) values[i] = i % 32 == 5 ? -1.0f : top;
            auto by_rows = make_matrix(values.data(), rows, cols, type);
            QVERIFY(by_rows.ok());
            auto interleaved = interleave_matrix(*by_rows, nullptr);
            QVERIFY(interleaved.ok());
            for (int T : {1, 4, 9}) {
                std::vector<float> x(static_cast<std::size_t>(T) * cols);
                for (std::size_t i = 0; i < x.size(); ++i) {
                    const auto t = static_cast<int>(i / cols);
                    x[i] = t % 3 == 0 ? 3.0f : t % 3 == 1 ? -3.0f : (i % 2 == 0 ? 3.0f : -3.0f);
                }
                std::vector<double> want, mag, qerr;
                reference_int(*by_rows, x.data(), T, want, mag, qerr);
                for (auto isa : {cpu::Isa::Generic, cpu::Isa::Avx2, cpu::Isa::Avx2Vnni,
                                 cpu::Isa::Avx512, cpu::Isa::Avx512Vnni}) {
                    if (!cpu::cpu_supports(isa)) continue;
                    const cpu::KernelTable& k = cpu::kernels_for(isa);
                    for (const Matrix* w : {&*by_rows, &*interleaved}) {
                        std::vector<float> got(want.size(), NAN);
                        if (T <= cpu::kSmallBatch) {
                            k.gemv(*w, 0, rows, x.data(), T, got.data());
                        } else if (!w->interleaved() || k.gemm_x16 == nullptr ||
                                   !cpu::gemm_x16_parallel(k, *w, x.data(), T, got.data(),
                                                           nullptr)) {
                            continue;  // the float GEMM, covered elsewhere
                        }
                        for (std::size_t i = 0; i < want.size(); ++i) {
                            if (!(std::fabs(got[i] - want[i]) <= 2e-6 * mag[i] + 1e-6)) {
                                QFAIL(qPrintable(QStringLiteral("%1 %2 %3 T%4 [%5]: %6 vs %7")
                                                     .arg(k.isa)
                                                     .arg(dtype_name(type).data())
                                                     .arg(w->interleaved() ? "x16" : "rows")
                                                     .arg(T)
                                                     .arg(i)
                                                     .arg(got[i])
                                                     .arg(want[i])));
                            }
                        }
                    }
                }
            }
        }
    }

    // Zero and tiny activation blocks (relu^2 outputs) quantize to zero and stay finite.
    void decode_handles_zero_and_tiny_activations() {
        const int rows = 9, cols = 128;
        const auto values = random_values(static_cast<std::size_t>(rows) * cols, 17);
        auto x = random_values(cols, 23);
        for (int i = 0; i < 32; ++i) {
            x[static_cast<std::size_t>(i)] = 0.0f;
            x[static_cast<std::size_t>(32 + i)] *= 1e-37f;  // subnormal scale, 1 / d overflows
            x[static_cast<std::size_t>(64 + i)] *= 1e-19f;  // just above the cut
        }
        for (DType type : {DType::Q8_0, DType::Q4_0}) {
            auto w = make_matrix(values.data(), rows, cols, type);
            QVERIFY(w.ok());
            std::vector<double> want, mag, qerr;
            reference_int(*w, x.data(), 1, want, mag, qerr);
            for (auto isa : {cpu::Isa::Generic, cpu::Isa::Avx2, cpu::Isa::Avx2Vnni,
                             cpu::Isa::Avx512, cpu::Isa::Avx512Vnni}) {
                if (!cpu::cpu_supports(isa)) continue;
                std::vector<float> got(static_cast<std::size_t>(rows), NAN);
                cpu::kernels_for(isa).gemv(*w, 0, rows, x.data(), 1, got.data());
                for (int r = 0; r < rows; ++r) {
                    QVERIFY(std::isfinite(got[static_cast<std::size_t>(r)]));
                    QVERIFY(std::fabs(got[static_cast<std::size_t>(r)] -
                                      want[static_cast<std::size_t>(r)]) <=
                            2e-6 * mag[static_cast<std::size_t>(r)] + 1e-6);
                }
            }
        }
    }

    // The activation quantization of the interleaved kernels (quantize_tokens, as decoding
    // does it per block) gives exactly the independent reference's scales and values, and each
    // block's bias is -offset * sum(q), on every instruction set that has it: blocks of zeros,
    // of subnormal and tiny values, of one huge value, and ordinary ones.
    void token_quantization_matches_reference() {
        const int tokens = 3, cols = 19 * 32;  // two runs of 8 blocks and 3 more
        auto x = random_values(static_cast<std::size_t>(tokens) * cols, 31, 2.0f);
        for (int i = 0; i < 32; ++i) {
            x[static_cast<std::size_t>(i)] = 0.0f;
            x[static_cast<std::size_t>(32 + i)] *= 1e-38f;
            x[static_cast<std::size_t>(64 + i)] *= 1e-19f;
            x[static_cast<std::size_t>(96 + i)] *= 1e-3f;
        }
        for (int i = 0; i < 32; ++i) x[static_cast<std::size_t>(17 * 32 + i)] = 0.0f;
        x[static_cast<std::size_t>(cols + 40)] = 3e30f;     // one value dwarfs its block
        x[static_cast<std::size_t>(2 * cols + 5)] = -1e5f;  // and a negative one
        x[static_cast<std::size_t>(2 * cols + 8 * 32 + 7)] = 7e3f;
        const int blocks = cols / 32;
        int checked = 0;
        for (auto isa : {cpu::Isa::Generic, cpu::Isa::Avx2, cpu::Isa::Avx2Vnni, cpu::Isa::Avx512,
                         cpu::Isa::Avx512Vnni}) {
            if (!cpu::cpu_supports(isa) || cpu::kernels_for(isa).quantize_tokens == nullptr) {
                continue;
            }
            for (DType type : {DType::Q8_0, DType::Q4_0}) {
                const int offset = type == DType::Q4_0 ? 8 : 128;
                std::vector<std::int8_t> q(static_cast<std::size_t>(tokens) * cols, 99);
                std::vector<float> d(static_cast<std::size_t>(tokens) * blocks, -1.0f);
                std::vector<std::int32_t> bias(d.size(), 12345);
                cpu::QuantizedTokens xq;
                xq.tokens = tokens;
                xq.cols = cols;
                xq.q = q.data();
                xq.d = d.data();
                xq.bias = bias.data();
                cpu::kernels_for(isa).quantize_tokens(type, x.data(), 0, tokens, xq);
                for (int t = 0; t < tokens; ++t) {
                    std::vector<int> want_q;
                    std::vector<float> want_d;
                    quantize_activations(x.data() + static_cast<std::size_t>(t) * cols, cols,
                                         want_q, want_d);
                    for (int b = 0; b < blocks; ++b) {
                        const std::size_t at = static_cast<std::size_t>(t) * blocks + b;
                        // Bit for bit (QCOMPARE on floats is fuzzy).
                        QCOMPARE(std::bit_cast<std::uint32_t>(d[at]),
                                 std::bit_cast<std::uint32_t>(want_d[static_cast<std::size_t>(b)]));
                        int sum = 0;
                        for (int i = 0; i < 32; ++i) {
                            const std::size_t j = static_cast<std::size_t>(b) * 32 + i;
                            QCOMPARE(static_cast<int>(q[static_cast<std::size_t>(t) * cols + j]),
                                     want_q[j]);
                            sum += want_q[j];
                        }
                        QCOMPARE(bias[at], -offset * sum);
                    }
                }
                ++checked;
            }
        }
        if (checked == 0) QSKIP("no instruction set here has the interleaved integer kernels");
    }

    // Decoding can hand a product's output to the next product already quantized
    // (Product::yq / xq): quantize_columns over pieces of the columns gives exactly what
    // quantize_tokens gives for whole rows, and gemv_quantized from it exactly what gemv gives
    // from the floats, on every instruction set that has them: 1-4 tokens, a row count that is
    // not whole groups of 16, and widths of one and of two column chunks (128 blocks each).
    void quantized_handoff_matches_gemv() {
        int checked = 0;
        for (auto isa : {cpu::Isa::Generic, cpu::Isa::Avx2, cpu::Isa::Avx2Vnni, cpu::Isa::Avx512,
                         cpu::Isa::Avx512Vnni}) {
            if (!cpu::cpu_supports(isa)) continue;
            const cpu::KernelTable& k = cpu::kernels_for(isa);
            if (k.gemv_quantized == nullptr) continue;
            QVERIFY(k.quantize_columns != nullptr);
            for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q5_1}) {
                for (int cols : {7 * 32, 161 * 32}) {
                    const int rows = 83;
                    const auto values = random_values(static_cast<std::size_t>(rows) * cols, 41);
                    auto w = make_matrix(values.data(), rows, cols, type, nullptr,
                                         MatrixLayout::Interleaved16);
                    QVERIFY(w.ok());
                    for (int T = 1; T <= cpu::kSmallBatch; ++T) {
                        const QString what = QStringLiteral("%1 %2 cols %3 T %4")
                                                 .arg(QString::fromLatin1(k.isa))
                                                 .arg(QString::fromLatin1(dtype_name(type).data()))
                                                 .arg(cols)
                                                 .arg(T);
                        const auto x = random_values(static_cast<std::size_t>(T) * cols, 43, 3.0f);
                        const std::size_t n = x.size(), blocks = n / 32;
                        std::vector<std::int8_t> q(n, 99);
                        std::vector<float> d(blocks, -1.0f);
                        std::vector<std::int32_t> bias(blocks, 7);
                        cpu::QuantizedTokens xq{T, cols, q.data(), d.data(), bias.data()};
                        // Pieces as grains of 32-row multiples leave them, out of order.
                        k.quantize_columns(type, x.data(), 64, 96, xq);
                        k.quantize_columns(type, x.data(), 96, cols, xq);
                        k.quantize_columns(type, x.data(), 0, 64, xq);
                        // Against the independent reference, with the interleaved kernels'
                        // bias: -8 sum(q) for q4_0, -128 sum(q) for q8_0, sum(q) for q5_1.
                        const int factor = type == DType::Q4_0   ? -8
                                           : type == DType::Q5_1 ? 1
                                                                 : -128;
                        for (int t = 0; t < T; ++t) {
                            std::vector<int> want_q;
                            std::vector<float> want_d;
                            const std::size_t row = static_cast<std::size_t>(t) * cols;
                            quantize_activations(x.data() + row, cols, want_q, want_d);
                            for (int b = 0; b < cols / 32; ++b) {
                                const std::size_t at = row / 32 + static_cast<std::size_t>(b);
                                QVERIFY2(std::bit_cast<std::uint32_t>(d[at]) ==
                                             std::bit_cast<std::uint32_t>(
                                                 want_d[static_cast<std::size_t>(b)]),
                                         qPrintable(what));
                                int sum = 0;
                                for (int i = 0; i < 32; ++i) {
                                    const std::size_t j = static_cast<std::size_t>(b) * 32 + i;
                                    QVERIFY2(q[row + j] == want_q[j], qPrintable(what));
                                    sum += want_q[j];
                                }
                                QVERIFY2(bias[at] == factor * sum, qPrintable(what));
                            }
                        }
                        const std::size_t n_out = static_cast<std::size_t>(T) * rows;
                        std::vector<float> want(n_out, NAN), got(n_out, NAN);
                        k.gemv(*w, 0, rows, x.data(), T, want.data());
                        k.gemv_quantized(*w, 0, 37, xq, got.data());  // mid-group boundaries
                        k.gemv_quantized(*w, 37, rows, xq, got.data());
                        for (std::size_t i = 0; i < n_out; ++i) {
                            QVERIFY2(std::bit_cast<std::uint32_t>(got[i]) ==
                                         std::bit_cast<std::uint32_t>(want[i]),
                                     qPrintable(what + QStringLiteral(" output %1").arg(i)));
                        }
                        ++checked;
                    }
                }
            }
        }
        if (checked == 0) QSKIP("no instruction set here has the interleaved integer kernels");
    }

    // The same hand-off through matmul_group on several threads, as the FFN uses it: a key
    // product (with its activation) quantizing its rows as its grains finish, and a value
    // product reading them, give the value product's output bit for bit as computed from the
    // floats without the hand-off.
    void grouped_products_hand_off_quantized_rows() {
        const cpu::KernelTable& k = cpu::kernels();
        if (k.gemv_quantized == nullptr || !k.interleave_quantized) {
            QSKIP("this CPU has no interleaved integer kernels");
        }
        const int C = 96, H = 1024;  // several 64 KiB grains of the key product
        const auto wk_values = random_values(static_cast<std::size_t>(H) * C, 51);
        const auto wv_values = random_values(static_cast<std::size_t>(C) * H, 52);
        for (DType type : {DType::Q8_0, DType::Q4_0}) {
            auto wk = make_matrix(wk_values.data(), H, C, DType::F32);
            auto wv =
                make_matrix(wv_values.data(), C, H, type, nullptr, MatrixLayout::Interleaved16);
            QVERIFY(wk.ok() && wv.ok());
            for (int T : {1, 2, 4}) {
                const auto x = random_values(static_cast<std::size_t>(T) * C, 53);
                std::vector<float> hidden(static_cast<std::size_t>(T) * H),
                    want(static_cast<std::size_t>(T) * C), got(want.size(), NAN);
                const std::size_t n = hidden.size();
                std::vector<std::int8_t> q(n);
                std::vector<float> d(n / 32);
                std::vector<std::int32_t> bias(n / 32);
                cpu::QuantizedTokens hq{T, H, q.data(), d.data(), bias.data()};
                ThreadPool pool(3);
                const Product key_plain{&*wk, x.data(), hidden.data(), cpu::KernelTable::kRelu2};
                matmul_group({&key_plain, 1}, T, &pool);
                matmul(*wv, hidden.data(), T, want.data(), nullptr);
                std::fill(hidden.begin(), hidden.end(), NAN);
                const Product key{&*wk,    x.data(), hidden.data(), cpu::KernelTable::kRelu2,
                                  nullptr, &hq,      type};
                matmul_group({&key, 1}, T, &pool);
                const Product value{&*wv, hidden.data(), got.data(), -1, &hq};
                matmul_group({&value, 1}, T, &pool);
                QVERIFY2(got == want, qPrintable(QStringLiteral("T %1").arg(T)));
                // And the value product really read the quantized rows: spoil them.
                std::fill(q.begin(), q.end(), std::int8_t{0});
                matmul_group({&value, 1}, T, &pool);
                QVERIFY2(got != want, qPrintable(QStringLiteral("T %1 spoiled").arg(T)));
            }
        }
    }

    // The bandwidth probe's read loop, with and without its software prefetches, reads every
    // value once: sizes that end mid-vector and mid-line, and none.
    void probe_read_sums_every_value() {
        const auto values = random_values(5003, 17);
        int checked = 0;
        for (auto isa : {cpu::Isa::Generic, cpu::Isa::Avx2, cpu::Isa::Avx2Vnni, cpu::Isa::Avx512,
                         cpu::Isa::Avx512Vnni}) {
            if (!cpu::cpu_supports(isa)) continue;
            for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{64},
                                  std::size_t{1000}, std::size_t{5003}}) {
                double want = 0.0, mag = 0.0;
                for (std::size_t i = 0; i < n; ++i) {
                    want += values[i];
                    mag += std::fabs(values[i]);
                }
                for (std::size_t ahead : {std::size_t{0}, cpu::kDecodePrefetchBytes}) {
                    const float got = cpu::kernels_for(isa).read_sum(values.data(), n, ahead);
                    QVERIFY2(std::fabs(got - want) <= 1e-6 * mag + 1e-7,
                             qPrintable(QStringLiteral("%1, n %2, prefetch %3: %4 vs %5")
                                            .arg(cpu::kernels_for(isa).isa)
                                            .arg(n)
                                            .arg(ahead)
                                            .arg(got)
                                            .arg(want)));
                }
                ++checked;
            }
        }
        QVERIFY(checked > 0);
    }

    void threaded_matmul_matches_single_thread() {
        const int rows = 203, cols = 320;
        const auto values = random_values(static_cast<std::size_t>(rows) * cols, 5);
        for (DType type : {DType::F32, DType::Q4_0}) {
            auto w = make_matrix(values.data(), rows, cols, type);
            QVERIFY(w.ok());
            for (int T : {1, 4, 33}) {
                const auto x = random_values(static_cast<std::size_t>(T) * cols, 11);
                std::vector<float> one(static_cast<std::size_t>(T) * rows), many(one.size());
                matmul(*w, x.data(), T, one.data(), nullptr);
                ThreadPool pool(3);
                matmul(*w, x.data(), T, many.data(), &pool);
                QCOMPARE(many, one);  // same kernels, same per-row order: bit-identical
            }
        }
    }

    // Each thread quantizes a decode product's activations once per parallel region and keeps
    // them for its next grains (cpu/activation_cache.hpp). The same buffer rewritten between
    // regions, and two buffers read in one region, must each be quantized afresh: every product
    // here matches the single-thread one, which never keeps them.
    void threaded_decode_requantizes_new_activations() {
        if (!cpu::kernels().interleave_quantized) QSKIP("this CPU keeps q8_0/q4_0 in rows");
        const int rows = 1000, cols = 320;  // several 32 KiB grains per thread
        const auto values = random_values(static_cast<std::size_t>(rows) * cols, 6);
        for (DType type : {DType::Q8_0, DType::Q4_0}) {
            auto w =
                make_matrix(values.data(), rows, cols, type, nullptr, MatrixLayout::Interleaved16);
            QVERIFY(w.ok());
            QVERIFY(w->interleaved());
            const QString name = QString::fromLatin1(
                dtype_name(type).data(), static_cast<qsizetype>(dtype_name(type).size()));
            for (int T : {1, 3}) {
                ThreadPool pool(2);
                const std::size_t n_out = static_cast<std::size_t>(T) * rows;
                std::vector<float> x = random_values(static_cast<std::size_t>(T) * cols, 21);
                const std::vector<float> x2 = random_values(x.size(), 22);
                std::vector<float> want(n_out), want2(n_out);
                for (int round = 0; round < 2; ++round) {
                    if (round == 1) {  // the same buffer, new values
                        const auto fresh = random_values(x.size(), 23);
                        std::copy(fresh.begin(), fresh.end(), x.begin());
                    }
                    std::vector<float> got(n_out, NAN);
                    matmul(*w, x.data(), T, want.data(), nullptr);
                    matmul(*w, x.data(), T, got.data(), &pool);
                    QVERIFY2(got == want,
                             qPrintable(QString("%1 T=%2 round %3").arg(name).arg(T).arg(round)));
                }
                // One region, the same matrix against two buffers.
                matmul(*w, x2.data(), T, want2.data(), nullptr);
                std::vector<float> got(n_out, NAN), got2(n_out, NAN);
                const Product both[2] = {{&*w, x.data(), got.data()},
                                         {&*w, x2.data(), got2.data()}};
                matmul_group(both, T, &pool);
                QVERIFY2(got == want && got2 == want2,
                         qPrintable(QString("%1 T=%2 group").arg(name).arg(T)));
                // One region whose grains cycle through more inputs than a thread keeps
                // quantized (RWKV-7's heads read rows of several products in turn).
                constexpr int kInputs = cpu::kActivationCacheSlots + 2;
                std::vector<std::vector<float>> xs, wants, gots;
                for (int i = 0; i < kInputs; ++i) {
                    xs.push_back(random_values(x.size(), 30 + i));
                    wants.emplace_back(n_out);
                    gots.emplace_back(n_out, NAN);
                    matmul(*w, xs.back().data(), T, wants.back().data(), nullptr);
                }
                const int step = 48;
                const int slices = (rows + step - 1) / step;
                pool.parallel_for_dynamic(
                    slices, 1, [&](int /*thread*/, std::int64_t s0, std::int64_t s1) {
                        for (std::int64_t sl = s0; sl < s1; ++sl) {
                            const int r0 = static_cast<int>(sl) * step;
                            const int r1 = std::min(rows, r0 + step);
                            for (int i = 0; i < kInputs; ++i) {
                                cpu::kernels().gemv(*w, r0, r1, xs[i].data(), T, gots[i].data());
                            }
                        }
                    });
                for (int i = 0; i < kInputs; ++i) {
                    QVERIFY2(
                        gots[i] == wants[i],
                        qPrintable(QString("%1 T=%2 input %3 of a cycle").arg(name).arg(T).arg(i)));
                }
            }
        }
    }

    // A group of products in one region (decoding) and one by one (prompt) gives what
    // separate products and activations give, on any pool size.
    void grouped_products_match_separate_products() {
        struct Spec {
            int rows;
            DType type;
            int act;
        };
        const Spec specs[] = {{256, DType::F32, -1},
                              {203, DType::Q4_0, cpu::KernelTable::kSigmoid},
                              {64, DType::F16, cpu::KernelTable::kTanh},
                              {40, DType::Q8_0, cpu::KernelTable::kRelu2},
                              {17, DType::F32, -1}};
        const int cols = 320;
        std::vector<Matrix> mats;
        for (const Spec& sp : specs) {
            const auto v = random_values(static_cast<std::size_t>(sp.rows) * cols, sp.rows);
            auto m = make_matrix(v.data(), sp.rows, cols, sp.type);
            QVERIFY(m.ok());
            mats.push_back(std::move(*m));
        }
        const auto activate = cpu::kernels().activate;
        for (int T : {1, 3, 33}) {
            std::vector<std::vector<float>> xs, want;
            for (std::size_t i = 0; i < mats.size(); ++i) {
                xs.push_back(random_values(static_cast<std::size_t>(T) * cols, 40 + i));
                want.emplace_back(static_cast<std::size_t>(T) * mats[i].rows);
                matmul(mats[i], xs[i].data(), T, want[i].data(), nullptr);
                if (specs[i].act >= 0)
                    activate(specs[i].act, want[i].data(), nullptr,
                             static_cast<int>(want[i].size()));
            }
            for (int threads : {0, 2, 3}) {
                std::unique_ptr<ThreadPool> pool;
                if (threads > 0) pool = std::make_unique<ThreadPool>(threads);
                std::vector<std::vector<float>> got;
                std::vector<Product> products;
                for (std::size_t i = 0; i < mats.size(); ++i) got.emplace_back(want[i].size(), NAN);
                for (std::size_t i = 0; i < mats.size(); ++i)
                    products.push_back({&mats[i], xs[i].data(), got[i].data(), specs[i].act});
                matmul_group(products, T, pool.get());
                for (std::size_t i = 0; i < mats.size(); ++i) {
                    for (std::size_t j = 0; j < want[i].size(); ++j) {
                        // The same kernels row by row; activations may take a vector or a
                        // scalar path depending on where a grain starts.
                        QVERIFY2(std::fabs(got[i][j] - want[i][j]) <=
                                     1e-6f * std::max(1.0f, std::fabs(want[i][j])),
                                 qPrintable(QString("T=%1 threads=%2 product %3 value %4: %5 vs %6")
                                                .arg(T)
                                                .arg(threads)
                                                .arg(i)
                                                .arg(j)
                                                .arg(got[i][j])
                                                .arg(want[i][j])));
                    }
                }
            }
        }
    }

    // q8_0 bytes exactly as llama.cpp's reference quantizer defines them: d = amax / 127 (as
    // f16), q = x / d rounded half away from zero (std::round), kept modulo 256. Random blocks,
    // and blocks of ties, of NaN (rounded to 0, never the block's maximum), of zeros, of
    // an infinity and of values near the smallest normal floats or below them.
    void q8_0_bytes_match_the_reference_rounding() {
        auto v = random_values(32 * 40, 11, 1.0f);
        for (int i = 1; i < 32; ++i) {  // block 0: d = 1, so each value is its own q
            v[static_cast<std::size_t>(i)] =
                static_cast<float>(i % 9) - 4.5f + (i % 3 == 0 ? 0.0f : 0.25f);
        }
        v[0] = 127.0f;
        v[33] = NAN;                                // block 1: a NaN among finite values
        for (int i = 64; i < 96; ++i) v[i] = 0.0f;  // block 2: all zeros
        v[96] = INFINITY;                           // block 3: an infinite value
        for (int i = 128; i < 160; ++i) v[i] = 1e-36f * static_cast<float>(i - 140);  // tiny
        // block 5: so small that 1 / d overflows, every x / d infinite (or NaN for 0)
        for (int i = 160; i < 192; ++i) v[i] = 1e-39f * static_cast<float>(i - 170);
        std::vector<std::byte> q(*dtype_bytes_for(DType::Q8_0, v.size()));
        QVERIFY(quantize_row(DType::Q8_0, v.data(), v.size(), q.data()).ok());
        for (std::size_t b = 0; b < v.size() / 32; ++b) {
            const float* x = v.data() + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; ++i) {
                if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]);
            }
            const float d = amax / 127.0f;
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            const std::byte* got = q.data() + b * 34;
            std::uint16_t scale = 0;
            std::memcpy(&scale, got, 2);
            QCOMPARE(scale, ravel::f32_to_f16(d));
            for (int i = 0; i < 32; ++i) {
                const float y = x[i] * id;
                const int want = std::isfinite(y) ? static_cast<int>(std::round(y)) : 0;
                const auto want_byte = static_cast<std::int8_t>(want & 0xff);
                QVERIFY2(static_cast<std::int8_t>(got[2 + i]) == want_byte,
                         qPrintable(QStringLiteral("block %1 value %2 (%3): %4, expected %5")
                                        .arg(b)
                                        .arg(i)
                                        .arg(static_cast<double>(x[i]))
                                        .arg(static_cast<int>(static_cast<std::int8_t>(got[2 + i])))
                                        .arg(static_cast<int>(want_byte))));
            }
        }
        // The ties of block 0 went away from zero: 1.5 -> 2, -1.5 -> -2, -4.5 -> -5.
        QCOMPARE(static_cast<int>(static_cast<std::int8_t>(q[2 + 6])), 2);
        QCOMPARE(static_cast<int>(static_cast<std::int8_t>(q[2 + 3])), -2);
        QCOMPARE(static_cast<int>(static_cast<std::int8_t>(q[2 + 9])), -5);
    }

    // Quantization error stays inside each format's bound (half a step per value).
    void quantization_error_is_bounded() {
        const auto v = random_values(32 * 64, 3, 0.05f);
        for (DType type : {DType::Q8_0, DType::Q5_1, DType::Q4_0}) {
            std::vector<std::byte> q(*dtype_bytes_for(type, v.size()));
            QVERIFY(quantize_row(type, v.data(), v.size(), q.data()).ok());
            std::vector<float> back(v.size());
            QVERIFY(dequantize_row(type, q.data(), v.size(), back.data()).ok());
            for (std::size_t b = 0; b < v.size() / 32; ++b) {
                float lo = INFINITY, hi = -INFINITY, amax = 0;
                for (int i = 0; i < 32; ++i) {
                    lo = std::min(lo, v[b * 32 + i]);
                    hi = std::max(hi, v[b * 32 + i]);
                    amax = std::max(amax, std::fabs(v[b * 32 + i]));
                }
                const float step = type == DType::Q8_0   ? amax / 127
                                   : type == DType::Q4_0 ? amax / 8
                                                         : (hi - lo) / 31;
                for (int i = 0; i < 32; ++i) {
                    const float err = std::fabs(back[b * 32 + i] - v[b * 32 + i]);
                    // Half a step, plus the f16 rounding of the scale (and of q5_1's minimum).
                    // q4_0 spans -8..7 steps, so the end opposite the largest value can be
                    // clipped by up to a whole step.
                    const float allowed = (type == DType::Q4_0 ? 1.0f : 0.5f) * step * 1.01f;
                    QVERIFY2(err <= allowed + 2e-3f * amax + 1e-7f,
                             qPrintable(QStringLiteral("%1 block %2 value %3: error %4, step %5")
                                            .arg(dtype_name(type).data())
                                            .arg(b)
                                            .arg(i)
                                            .arg(err)
                                            .arg(step)));
                }
            }
        }
    }
};

QTEST_APPLESS_MAIN(CpuKernelsTest)
#include "test_cpu_kernels.moc"
