// The SIMD element-wise kernels of KernelTable (simd_elementwise.inl, wkv7_head in
// simd_kernels.inl), for every instruction set this CPU has, against a double-precision
// reference written here straight from the RWKV formulas. Sizes are awkward (not multiples of any
// SIMD width) so the vector tails are exercised; buffers are exactly as long as the kernel may
// touch, so the ASan build catches a tail that reads or writes past the end, and strided kernels
// are checked not to write between their rows. Recurrences run several tokens so the state
// carried from one token to the next is checked too.
//
// Tolerances are err <= rtol * mag (+ atol where stated), where mag is the sum of the absolute
// values of the terms that make up the result (so cancellation does not make the check
// meaningless), computed alongside the reference. Float's unit roundoff is 6e-8; the kernels'
// exp is documented at 1.2e-7 relative. Any wrong lane, tail mask, operand or missing term is an
// error of order mag, far above these.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model/cpu/kernels.hpp"

using namespace ravel::detail;
using cpu::Isa;
using cpu::KernelTable;

namespace {

constexpr double kU = 1.0 / (1 << 24);  // float's unit roundoff

struct IsaName {
    Isa isa;
    const char* name;
};
constexpr IsaName kIsas[] = {{Isa::Generic, "generic"},
                             {Isa::Avx2, "avx2"},
                             {Isa::Avx512, "avx512"},
                             {Isa::Avx512Vnni, "avx512vnni"},
                             {Isa::Avx2Vnni, "avx2vnni"}};

// Element counts that are multiples of no SIMD width (8, 16), plus exact widths +- 1.
constexpr int kSizes[] = {1, 3, 7, 17, 33, 100, 1027};

std::vector<float> normal(std::size_t n, std::uint32_t seed, float scale = 1.0f,
                          float mean = 0.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(mean, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

std::vector<float> uniform(std::size_t n, std::uint32_t seed, float lo, float hi) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Saturating and special inputs for the exp-based functions.
constexpr float kEdge[] = {80.0f,  -80.0f, 100.0f, -100.0f, 0.0f,   -0.0f,  88.5f,   -88.5f, 87.0f,
                           -87.0f, 20.0f,  -20.0f, 1e-3f,   -1e-3f, 0.149f, -0.151f, 1e-30f};
constexpr int kEdgeCount = static_cast<int>(sizeof kEdge / sizeof kEdge[0]);

double sigmoid(double z) {
    return 1.0 / (1.0 + std::exp(-z));
}

// Worst error per kernel over every row: relative to the magnitude, and as a share of the
// tolerance. Printed at the end.
struct Worst {
    double rel = 0.0;
    double of_tol = 0.0;
};
std::map<std::string, Worst>& worst() {
    static std::map<std::string, Worst> w;
    return w;
}

// Collects the comparisons of one row; the first failure is kept for the message.
class Check {
  public:
    explicit Check(const char* kernel) : kernel_(kernel) {}
    void operator()(const char* what, std::size_t i, double got, double ref, double mag,
                    double rtol, double atol = 0.0) {
        const double err = std::fabs(got - ref);
        const double tol = rtol * mag + atol;
        Worst& w = worst()[kernel_];
        // relative error only where the relative part of the tolerance is what counts
        if (mag > 0.0 && rtol * mag >= atol && err / mag > w.rel) w.rel = err / mag;
        if (tol > 0.0 && err / tol > w.of_tol) w.of_tol = err / tol;
        if (!(err <= tol) && ok_) {  // also catches NaN
            ok_ = false;
            std::snprintf(msg_, sizeof msg_,
                          "%s %s[%zu]: got %.9g, expected %.9g (err %.3g > tol %.3g)", kernel_,
                          what, i, static_cast<double>(got), ref, err, tol);
        }
    }
    // The positions a strided kernel must leave alone.
    void untouched(const char* what, std::size_t i, float got, float was) {
        if (got != was && ok_) {
            ok_ = false;
            std::snprintf(msg_, sizeof msg_, "%s wrote %s[%zu] outside its rows", kernel_, what, i);
        }
    }
    bool ok() const { return ok_; }
    const char* msg() const { return msg_; }

  private:
    const char* kernel_;
    bool ok_ = true;
    char msg_[256] = {};
};

#define FETCH_TABLE()                                                        \
    QFETCH(int, isa);                                                        \
    if (!cpu::cpu_supports(static_cast<Isa>(isa))) QSKIP("not on this CPU"); \
    const KernelTable& kt = cpu::kernels_for(static_cast<Isa>(isa))

// One row per ISA x size for the plain kernels.
void isa_size_rows() {
    QTest::addColumn<int>("isa");
    QTest::addColumn<int>("n");
    QTest::addColumn<bool>("edge");
    for (const IsaName& s : kIsas) {
        for (int n : kSizes) {
            QTest::addRow("%s n=%d", s.name, n) << static_cast<int>(s.isa) << n << false;
        }
        QTest::addRow("%s n=%d edge", s.name, kEdgeCount)
            << static_cast<int>(s.isa) << kEdgeCount << true;
    }
}

// One row per ISA x (H heads, N per head); the head kernels have vector tails, so N need not be
// a multiple of the width.
void isa_head_rows() {
    QTest::addColumn<int>("isa");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addColumn<bool>("edge");  // all-zero inputs
    const int shapes[][2] = {{1, 1}, {1, 8}, {3, 12}, {2, 16}, {1, 17}, {2, 64}, {1, 100}};
    for (const IsaName& s : kIsas) {
        for (const auto& hn : shapes) {
            QTest::addRow("%s H=%d N=%d", s.name, hn[0], hn[1])
                << static_cast<int>(s.isa) << hn[0] << hn[1] << false;
        }
        QTest::addRow("%s H=2 N=17 zeros", s.name) << static_cast<int>(s.isa) << 2 << 17 << true;
    }
}

// One row per ISA x head size x tokens for the per-head recurrences. wkv7_seq runs head sizes of
// 2, 4, 8 or 16 vectors (N = 16, 32, 64, 128 here) on its transposed-state path and other sizes
// (8, 12, 24, and 16 on AVX-512) token by token; both are covered.
void isa_recurrence_rows() {
    QTest::addColumn<int>("isa");
    QTest::addColumn<int>("N");
    QTest::addColumn<int>("T");
    for (const IsaName& s : kIsas) {
        for (int N : {8, 12, 16, 24, 32, 64, 128}) {
            for (int T : {1, 2, 5}) {
                QTest::addRow("%s N=%d T=%d", s.name, N, T) << static_cast<int>(s.isa) << N << T;
            }
        }
    }
}

// --- activations: f(x + bias) ---

double act_ref(int act, double z) {
    switch (act) {
        case KernelTable::kRelu2:
            return z > 0 ? z * z : 0.0;
        case KernelTable::kSigmoid:
            return sigmoid(z);
        case KernelTable::kSilu:
            return z * sigmoid(z);
        case KernelTable::kTanh:
            return std::tanh(z);
        case KernelTable::kExpNegExp:
            return std::exp(-std::exp(z));
        default:  // RWKV-7 decay: exp(-e^-0.5 sigmoid(z))
            return std::exp(-std::exp(-0.5) * sigmoid(z));
    }
}

double act_deriv(int act, double z) {
    const double s = sigmoid(z);
    switch (act) {
        case KernelTable::kRelu2:
            return z > 0 ? 2 * z : 0.0;
        case KernelTable::kSigmoid:
            return s * (1 - s);
        case KernelTable::kSilu:
            return s + z * s * (1 - s);
        case KernelTable::kTanh:
            return 1 - std::tanh(z) * std::tanh(z);
        case KernelTable::kExpNegExp:
            return std::exp(z) * act_ref(act, z);
        default:
            return std::exp(-0.5) * s * (1 - s) * act_ref(act, z);
    }
}

// Relative tolerance of f itself: 1e-6 for relu^2; 2e-6 for the exp-based ones (a few exp
// errors of 1.2e-7 plus a division); exp(-exp(z)) turns exp(z)'s relative error into an
// absolute error of the outer exponent, so it scales with e^z.
double act_rtol(int act, double z) {
    if (act == KernelTable::kRelu2) return 1e-6;
    if (act == KernelTable::kExpNegExp) return 2e-6 * (1.0 + std::exp(z));
    return 2e-6;
}

// Absolute allowance: results below float's normal range (1.18e-38) may come out as 0 (e.g.
// relu^2 of 1e-30, exp(-exp(5))); below z = -88 the kernels' exp saturates at e^88
// (documented), so sigmoid returns 1 / (1 + e^88) = 6e-39 instead of ~e^z, and SiLU multiplies
// that by z.
double act_atol(int act, double z) {
    constexpr double kFloatMin = 1.1754943508222875e-38;
    if (act == KernelTable::kSilu) return kFloatMin * (1.0 + std::fabs(z));
    return kFloatMin;
}

const char* act_name(int act) {
    static const char* names[] = {"relu2", "sigmoid", "silu", "tanh", "exp_neg_exp", "v7_decay"};
    return names[act];
}

// --- layer norm: (x - mean) / sqrt(var + eps) * w + b, biased variance ---

// Returns y and its magnitude (|normalised * w| + |b| + an allowance for the float mean).
void layer_norm_ref(const float* x, const float* w, const float* b, int n, double eps,
                    std::vector<double>& y, std::vector<double>& mag) {
    double mean = 0;
    for (int i = 0; i < n; ++i) mean += x[i];
    mean /= n;
    double var = 0;
    for (int i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    const double inv = 1.0 / std::sqrt(var + eps);
    y.resize(static_cast<std::size_t>(n));
    mag.resize(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const double xn = (x[i] - mean) * inv;
        y[i] = xn * w[i] + b[i];
        // the float mean carries ~u |mean|; it shifts every xn by that times inv
        mag[i] =
            std::fabs(xn * w[i]) + std::fabs(b[i]) + 0.1 * std::fabs(w[i]) * inv * std::fabs(mean);
    }
}

}  // namespace

class TestElementwiseKernels : public QObject {
    Q_OBJECT

  private slots:
    void activate_data() {
        QTest::addColumn<int>("isa");
        QTest::addColumn<int>("act");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("mode");  // 0: random x + random bias, 1: no bias, 2: edge x
        for (const IsaName& s : kIsas) {
            for (int act = KernelTable::kRelu2; act <= KernelTable::kV7Decay; ++act) {
                for (int n : kSizes) {
                    QTest::addRow("%s %s n=%d", s.name, act_name(act), n)
                        << static_cast<int>(s.isa) << act << n << 0;
                }
                QTest::addRow("%s %s n=33 no bias", s.name, act_name(act))
                    << static_cast<int>(s.isa) << act << 33 << 1;
                QTest::addRow("%s %s n=%d edge", s.name, act_name(act), kEdgeCount)
                    << static_cast<int>(s.isa) << act << kEdgeCount << 2;
            }
        }
    }
    void activate() {
        FETCH_TABLE();
        QFETCH(int, act);
        QFETCH(int, n);
        QFETCH(int, mode);
        const auto un = static_cast<std::size_t>(n);
        std::vector<float> x = normal(un, 100 + n, 2.0f);
        const std::vector<float> bias = normal(un, 200 + n, 1.0f);
        if (mode == 2) {
            for (int i = 0; i < n; ++i) x[i] = kEdge[i % kEdgeCount];
        }
        const float* b = mode == 0 ? bias.data() : nullptr;
        std::vector<float> got = x;
        kt.activate(act, got.data(), b, n);
        Check check(act_name(act));
        for (int i = 0; i < n; ++i) {
            const double bi = b != nullptr ? b[i] : 0.0;
            const double z = static_cast<double>(x[i]) + bi;
            const double ref = act_ref(act, z);
            // The kernel adds x + bias in float: up to u (|x| + |bias|) off, through f'.
            const double zerr = b != nullptr ? kU * (std::fabs(x[i]) + std::fabs(bi)) : 0.0;
            check("x", i, got[i], ref, std::fabs(ref), act_rtol(act, z),
                  act_atol(act, z) + 2.0 * std::fabs(act_deriv(act, z)) * zerr);
        }
        QVERIFY2(check.ok(), check.msg());
    }

    void layer_norm_data() { isa_size_rows(); }
    void layer_norm() {
        FETCH_TABLE();
        QFETCH(int, n);
        QFETCH(bool, edge);
        const auto un = static_cast<std::size_t>(n);
        // A mean well away from 0 checks the two-pass variance; the edge row is all zeros.
        std::vector<float> x = normal(un, 300 + n, 3.0f, 10.0f);
        if (edge) x.assign(un, 0.0f);
        const std::vector<float> w = normal(un, 301 + n), b = normal(un, 302 + n);
        for (const float eps : {1e-5f, 64e-5f}) {
            std::vector<float> y(un, -7.0f);
            kt.layer_norm(x.data(), w.data(), b.data(), y.data(), n, eps);
            std::vector<double> ref, mag;
            layer_norm_ref(x.data(), w.data(), b.data(), n, eps, ref, mag);
            Check check("layer_norm");
            // The mean and variance are float sums of n terms (2 x W partial sums).
            for (int i = 0; i < n; ++i) check("y", i, y[i], ref[i], mag[i], 1e-5);
            QVERIFY2(check.ok(), check.msg());
        }
    }

    void lerp_mix_data() { isa_size_rows(); }
    void lerp_mix() {
        FETCH_TABLE();
        QFETCH(int, n);
        QFETCH(bool, edge);
        const auto un = static_cast<std::size_t>(n);
        std::vector<float> x = normal(un, 400 + n), s = normal(un, 401 + n),
                           m = uniform(un, 402 + n, -0.5f, 1.5f);
        if (edge) {
            x.assign(un, 0.0f);
            for (int i = 0; i < n; ++i) m[i] = i % 2 == 0 ? 0.0f : 1.0f;
        }
        std::vector<float> out(un, -7.0f);
        Check lc("lerp");
        // out = x + (s - x) m: one rounding of s - x, one fma. 1e-6 of the terms.
        kt.lerp(x.data(), s.data(), m.data(), out.data(), n);
        for (int i = 0; i < n; ++i) {
            const double d = static_cast<double>(s[i]) - x[i];
            lc("out", i, out[i], x[i] + d * m[i], std::fabs(x[i]) + std::fabs(d * m[i]), 1e-6);
        }
        QVERIFY2(lc.ok(), lc.msg());
        // out = x m + s (1 - m). 1e-6 of the terms.
        Check mc("mix");
        out.assign(un, -7.0f);
        kt.mix(x.data(), s.data(), m.data(), out.data(), n);
        for (int i = 0; i < n; ++i) {
            const double a = static_cast<double>(x[i]) * m[i];
            const double c = static_cast<double>(s[i]) * (1.0 - m[i]);
            mc("out", i, out[i], a + c, std::fabs(a) + std::fabs(c), 1e-6);
        }
        QVERIFY2(mc.ok(), mc.msg());
        // In place, as the v7 caller does (lerp(v, v_first, vres, v)).
        Check ic("lerp");
        std::vector<float> io = x;
        kt.lerp(io.data(), s.data(), m.data(), io.data(), n);
        for (int i = 0; i < n; ++i) {
            const double d = static_cast<double>(s[i]) - x[i];
            ic("in place", i, io[i], x[i] + d * m[i], std::fabs(x[i]) + std::fabs(d * m[i]), 1e-6);
        }
        QVERIFY2(ic.ok(), ic.msg());
    }

    void add_mul_gated_data() { isa_size_rows(); }
    void add_mul_gated() {
        FETCH_TABLE();
        QFETCH(int, n);
        QFETCH(bool, edge);
        const auto un = static_cast<std::size_t>(n);
        const std::vector<float> x = normal(un, 500 + n, 3.0f), y = normal(un, 501 + n);
        std::vector<float> r = normal(un, 502 + n, 3.0f);
        if (edge) {
            for (int i = 0; i < n; ++i) r[i] = kEdge[i % kEdgeCount];
        }
        // x += y, x *= y: one rounding each; 1e-6 of the terms.
        std::vector<float> got = x;
        kt.add(got.data(), y.data(), n);
        Check ac("add");
        for (int i = 0; i < n; ++i) {
            ac("x", i, got[i], static_cast<double>(x[i]) + y[i], std::fabs(x[i]) + std::fabs(y[i]),
               1e-6);
        }
        QVERIFY2(ac.ok(), ac.msg());
        got = x;
        kt.mul(got.data(), y.data(), n);
        Check muc("mul");
        for (int i = 0; i < n; ++i) {
            const double p = static_cast<double>(x[i]) * y[i];
            muc("x", i, got[i], p, std::fabs(p), 1e-6);
        }
        QVERIFY2(muc.ok(), muc.msg());
        // x += sigmoid(r) y: 2e-6 of the terms (sigmoid through exp); 1e-38 |y| for sigmoid's
        // saturation below r = -88.
        got = x;
        kt.add_gated(got.data(), r.data(), y.data(), n);
        Check gc("add_gated");
        for (int i = 0; i < n; ++i) {
            const double g = sigmoid(r[i]) * y[i];
            gc("x", i, got[i], x[i] + g, std::fabs(x[i]) + std::fabs(g), 2e-6,
               1e-38 * std::fabs(y[i]));
        }
        QVERIFY2(gc.ok(), gc.msg());
    }

    void v7_keys_data() { isa_head_rows(); }
    void v7_keys() {
        FETCH_TABLE();
        QFETCH(int, H);
        QFETCH(int, N);
        QFETCH(bool, edge);
        const auto C = static_cast<std::size_t>(H) * N;
        std::vector<float> k = normal(C, 600 + N), k_k = normal(C, 601 + N, 0.5f, 0.8f),
                           a = uniform(C, 602 + N, 0.0f, 1.0f), k_a = normal(C, 603 + N);
        if (edge) k.assign(C, 0.0f);
        std::vector<float> kg = k, kk(C, -7.0f), kka(C, -7.0f);
        kt.v7_keys(kg.data(), kk.data(), kka.data(), a.data(), k_k.data(), k_a.data(), H, N);
        Check check("v7_keys");
        for (int h = 0; h < H; ++h) {
            const std::size_t o = static_cast<std::size_t>(h) * N;
            double ss = 0;
            for (int i = 0; i < N; ++i) {
                const double p = static_cast<double>(k[o + i]) * k_k[o + i];
                ss += p * p;
            }
            const double norm = std::max(std::sqrt(ss), 1e-12);  // F.normalize
            for (int i = 0; i < N; ++i) {
                const std::size_t j = o + i;
                const double kkr = static_cast<double>(k[j]) * k_k[j] / norm;
                // kk and kka are products and a quotient by a norm summed in float: 2e-6 rel.
                check("kk", j, kk[j], kkr, std::fabs(kkr), 2e-6);
                check("kka", j, kka[j], kkr * a[j], std::fabs(kkr * a[j]), 2e-6);
                // k (1 + (a - 1) k_a): 1e-6 of the terms.
                const double t = (static_cast<double>(a[j]) - 1.0) * k_a[j];
                check("k", j, kg[j], k[j] * (1.0 + t), std::fabs(k[j]) * (1.0 + std::fabs(t)),
                      1e-6);
            }
        }
        QVERIFY2(check.ok(), check.msg());
    }

    void v7_output_data() { isa_head_rows(); }
    void v7_output() {
        FETCH_TABLE();
        QFETCH(int, H);
        QFETCH(int, N);
        QFETCH(bool, edge);
        const auto C = static_cast<std::size_t>(H) * N;
        std::vector<float> y = normal(C, 700 + N, 2.0f, 0.5f), r = normal(C, 701 + N),
                           k = normal(C, 702 + N), v = normal(C, 703 + N), g = normal(C, 704 + N),
                           r_k = normal(C, 705 + N), ln_w = normal(C, 706 + N),
                           ln_b = normal(C, 707 + N);
        if (edge) {
            y.assign(C, 0.0f);
            r.assign(C, 0.0f);
        }
        const float eps = 64e-5f;  // ChatRWKV's ln_x eps
        std::vector<float> got = y;
        kt.v7_output(got.data(), r.data(), k.data(), v.data(), g.data(), r_k.data(), ln_w.data(),
                     ln_b.data(), H, N, eps);
        Check check("v7_output");
        for (int h = 0; h < H; ++h) {
            const std::size_t o = static_cast<std::size_t>(h) * N;
            std::vector<double> ln, lnmag;
            layer_norm_ref(y.data() + o, ln_w.data() + o, ln_b.data() + o, N, eps, ln, lnmag);
            double bonus = 0, bmag = 0;
            for (int i = 0; i < N; ++i) {
                const double p = static_cast<double>(r[o + i]) * k[o + i] * r_k[o + i];
                bonus += p;
                bmag += std::fabs(p);
            }
            // GroupNorm then bonus: 2e-6 of the terms covers the float sums of N terms.
            for (int i = 0; i < N; ++i) {
                const std::size_t j = o + i;
                const double ref = (ln[i] + bonus * v[j]) * g[j];
                const double mag = (lnmag[i] + bmag * std::fabs(v[j])) * std::fabs(g[j]);
                check("y", j, got[j], ref, mag, 2e-6);
            }
        }
        QVERIFY2(check.ok(), check.msg());
    }

    // RWKV-4: per channel, with state a, b (numerator, denominator):
    //   y = sigmoid(r) (a + e^(u+k) v) / (b + e^(u+k));  a = e^w a + e^k v;  b = e^w b + e^k.
    // The kernel keeps them scaled, a = aa e^pp, b = bb e^pp; the reference runs the plain form
    // in double (no overflow for these inputs) and compares aa e^pp, bb e^pp.
    void wkv4_data() {
        QTest::addColumn<int>("isa");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("T");
        QTest::addColumn<int>("mode");  // 0: fresh state, 1: random state, 2: |k| up to 100
        for (const IsaName& s : kIsas) {
            for (int n : kSizes) {
                for (int T : {1, 2, 5}) {
                    for (int mode : {0, 1, 2}) {
                        QTest::addRow("%s n=%d T=%d %s", s.name, n, T,
                                      mode == 0   ? "fresh"
                                      : mode == 1 ? "state"
                                                  : "edge")
                            << static_cast<int>(s.isa) << n << T << mode;
                    }
                }
            }
        }
    }
    void wkv4() {
        FETCH_TABLE();
        QFETCH(int, n);
        QFETCH(int, T);
        QFETCH(int, mode);
        // Token rows `stride` apart with a gap, buffers ending right after the last row.
        const std::size_t stride = static_cast<std::size_t>(n) + 5;
        const std::size_t len = static_cast<std::size_t>(T - 1) * stride + n;
        const auto un = static_cast<std::size_t>(n);
        std::vector<float> k = normal(len, 800 + n, 1.5f), v = normal(len, 801 + n),
                           r = normal(len, 802 + n, 2.0f);
        const std::vector<float> u = normal(un, 803 + n);
        std::vector<float> w = normal(un, 804 + n);
        for (auto& x : w) x = -std::exp(x);  // the model stores -exp(time_decay)
        std::vector<float> aa(un, 0.0f), bb(un, 0.0f), pp(un, -1e30f);  // ChatRWKV's fresh state
        if (mode == 1) {
            aa = normal(un, 805 + n);
            bb = uniform(un, 806 + n, 0.2f, 3.0f);
            pp = normal(un, 807 + n, 3.0f);
        }
        if (mode == 2) {
            for (std::size_t i = 0; i < len; ++i) k[i] = kEdge[i % 4];  // +-80, +-100
        }
        std::vector<double> a(un), b(un), amag(un);
        for (std::size_t c = 0; c < un; ++c) {
            a[c] = aa[c] * std::exp(static_cast<double>(pp[c]));
            b[c] = bb[c] * std::exp(static_cast<double>(pp[c]));
            amag[c] = std::fabs(a[c]);
        }
        std::vector<float> y(len, 12345.0f);
        kt.wkv4(k.data(), v.data(), r.data(), u.data(), w.data(), aa.data(), bb.data(), pp.data(),
                y.data(), T, n, stride);
        // Every exponent is a float: at |k| ~ 100 its rounding alone is 100 u = 6e-6 relative on
        // e^that, a few of them per token, so the edge rows get 1e-4; otherwise 1e-5 (exp errors
        // of 1.2e-7 and exponents of a few units, over up to 5 tokens).
        const double rtol = mode == 2 ? 1e-4 : 1e-5;
        Check check("wkv4");
        for (int t = 0; t < T; ++t) {
            for (std::size_t c = 0; c < un; ++c) {
                const std::size_t o = static_cast<std::size_t>(t) * stride + c;
                const double e = std::exp(static_cast<double>(u[c]) + k[o]);
                const double sr = sigmoid(r[o]);
                const double ref = sr * (a[c] + e * v[o]) / (b[c] + e);
                const double mag = sr * (amag[c] + e * std::fabs(v[o])) / (b[c] + e);
                check("y", o, y[o], ref, mag, rtol);
                const double ew = std::exp(static_cast<double>(w[c]));
                const double ek = std::exp(static_cast<double>(k[o]));
                a[c] = ew * a[c] + ek * v[o];
                amag[c] = ew * amag[c] + ek * std::fabs(v[o]);
                b[c] = ew * b[c] + ek;
            }
            if (t + 1 < T) {
                for (std::size_t c = un; c < stride; ++c) {
                    check.untouched("y", t * stride + c, y[t * stride + c], 12345.0f);
                }
            }
        }
        for (std::size_t c = 0; c < un; ++c) {
            const double ep = std::exp(static_cast<double>(pp[c]));
            check("aa e^pp", c, aa[c] * ep, a[c], amag[c], rtol);
            check("bb e^pp", c, bb[c] * ep, b[c], b[c], rtol);
        }
        QVERIFY2(check.ok(), check.msg());
    }

    // RWKV-5.2/6, one head, S[key i][value j]:
    //   y_j = sum_i r_i (u_i k_i v_j + S_ij);  S_ij = k_i v_j + w_i S_ij.
    // Error bound 2e-6 of the running magnitudes (sums of N float products, T tokens).
    void wkv5_head_data() { isa_recurrence_rows(); }
    void wkv5_head() {
        FETCH_TABLE();
        QFETCH(int, N);
        QFETCH(int, T);
        const auto un = static_cast<std::size_t>(N);
        const std::size_t len = un * T;
        const std::vector<float> r = normal(len, 900 + N), k = normal(len, 901 + N),
                                 v = normal(len, 902 + N), w = uniform(len, 903 + N, 0.3f, 1.0f),
                                 u = normal(un, 904 + N);
        std::vector<float> S = normal(un * un, 905 + N, 0.5f);
        std::vector<double> Sr(S.begin(), S.end()), Sm(un * un);
        for (std::size_t i = 0; i < Sm.size(); ++i) Sm[i] = std::fabs(Sr[i]);
        Check check("wkv5_head");
        for (int t = 0; t < T; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * un;
            std::vector<float> y(un, -7.0f);
            kt.wkv5_head(S.data(), N, r.data() + o, k.data() + o, v.data() + o, w.data() + o,
                         u.data(), y.data());
            for (std::size_t j = 0; j < un; ++j) {
                double ref = 0, mag = 0;
                for (std::size_t i = 0; i < un; ++i) {
                    const double ukv = static_cast<double>(u[i]) * k[o + i] * v[o + j];
                    ref += r[o + i] * (ukv + Sr[i * un + j]);
                    mag += std::fabs(r[o + i]) * (std::fabs(ukv) + Sm[i * un + j]);
                }
                check("y", o + j, y[j], ref, mag, 2e-6);
            }
            for (std::size_t i = 0; i < un; ++i) {
                for (std::size_t j = 0; j < un; ++j) {
                    const double kv = static_cast<double>(k[o + i]) * v[o + j];
                    Sr[i * un + j] = kv + w[o + i] * Sr[i * un + j];
                    Sm[i * un + j] = std::fabs(kv) + w[o + i] * Sm[i * un + j];
                }
            }
        }
        for (std::size_t i = 0; i < un * un; ++i) check("S", i, S[i], Sr[i], Sm[i], 2e-6);
        QVERIFY2(check.ok(), check.msg());
    }

    // RWKV-7, one head, S[value i][key j]:
    //   sa_i = sum_j S_ij kk_j;  S_ij = S_ij w_j - sa_i kka_j + v_i k_j;  y_i = sum_j S_ij r_j.
    // wkv7_head (one token per call) and wkv7_seq (T tokens, rows `stride` apart) against the same
    // reference. Error bound 2e-6 of the running magnitudes.
    void wkv7_data() { isa_recurrence_rows(); }
    void wkv7() {
        FETCH_TABLE();
        QFETCH(int, N);
        QFETCH(int, T);
        const auto un = static_cast<std::size_t>(N);
        const std::size_t stride = un + 3;  // rows with a gap; buffers end at the last row
        const std::size_t len = (T - 1) * stride + un;
        const std::vector<float> w = uniform(len, 1000 + N, 0.5f, 1.0f), k = normal(len, 1001 + N),
                                 v = normal(len, 1002 + N), r = normal(len, 1003 + N),
                                 a = uniform(len, 1004 + N, 0.0f, 1.0f);
        std::vector<float> kk = normal(len, 1005 + N), kka(len);
        for (int t = 0; t < T; ++t) {  // kk is a unit vector per token, kka = kk a
            const std::size_t o = static_cast<std::size_t>(t) * stride;
            double ss = 0;
            for (std::size_t j = 0; j < un; ++j) ss += static_cast<double>(kk[o + j]) * kk[o + j];
            for (std::size_t j = 0; j < un; ++j) {
                kk[o + j] = static_cast<float>(kk[o + j] / std::sqrt(ss));
                kka[o + j] = kk[o + j] * a[o + j];
            }
        }
        const std::vector<float> S0 = normal(un * un, 1006 + N, 0.5f);

        // Reference outputs per token and final state, with magnitudes.
        std::vector<double> Sr(S0.begin(), S0.end()), Sm(un * un), yr(len), ym(len);
        for (std::size_t i = 0; i < Sm.size(); ++i) Sm[i] = std::fabs(Sr[i]);
        for (int t = 0; t < T; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * stride;
            for (std::size_t i = 0; i < un; ++i) {
                double* Si = Sr.data() + i * un;
                double* Mi = Sm.data() + i * un;
                double sa = 0, sam = 0;
                for (std::size_t j = 0; j < un; ++j) {
                    sa += Si[j] * kk[o + j];
                    sam += Mi[j] * std::fabs(kk[o + j]);
                }
                double y = 0, m = 0;
                for (std::size_t j = 0; j < un; ++j) {
                    Si[j] = Si[j] * w[o + j] - sa * kka[o + j] +
                            static_cast<double>(v[o + i]) * k[o + j];
                    Mi[j] = Mi[j] * w[o + j] + sam * std::fabs(kka[o + j]) +
                            std::fabs(static_cast<double>(v[o + i]) * k[o + j]);
                    y += Si[j] * r[o + j];
                    m += Mi[j] * std::fabs(r[o + j]);
                }
                yr[o + i] = y;
                ym[o + i] = m;
            }
        }

        for (const bool seq : {false, true}) {
            Check check(seq ? "wkv7_seq" : "wkv7_head");
            std::vector<float> S = S0, y(len, 12345.0f);
            if (seq) {
                kt.wkv7_seq(S.data(), N, T, stride, w.data(), kk.data(), kka.data(), k.data(),
                            v.data(), r.data(), y.data());
            } else {
                for (int t = 0; t < T; ++t) {
                    const std::size_t o = static_cast<std::size_t>(t) * stride;
                    kt.wkv7_head(S.data(), N, w.data() + o, kk.data() + o, kka.data() + o,
                                 k.data() + o, v.data() + o, r.data() + o, y.data() + o);
                }
            }
            for (int t = 0; t < T; ++t) {
                const std::size_t o = static_cast<std::size_t>(t) * stride;
                for (std::size_t i = 0; i < un; ++i)
                    check("y", o + i, y[o + i], yr[o + i], ym[o + i], 2e-6);
                if (t + 1 < T) {
                    for (std::size_t i = un; i < stride; ++i)
                        check.untouched("y", o + i, y[o + i], 12345.0f);
                }
            }
            for (std::size_t i = 0; i < un * un; ++i) check("S", i, S[i], Sr[i], Sm[i], 2e-6);
            QVERIFY2(check.ok(), check.msg());
        }
    }

    void cleanupTestCase() {
        for (const auto& [name, w] : worst()) {
            std::printf("worst %-12s err/mag %.3g  err/tol %.3g\n", name.c_str(), w.rel, w.of_tol);
        }
    }
};

QTEST_APPLESS_MAIN(TestElementwiseKernels)
#include "test_elementwise_kernels.moc"
