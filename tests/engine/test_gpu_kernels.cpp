// Each CUDA kernel against a CPU reference (the engine's own CPU ops where they exist, else
// the CPU forward pass's arithmetic transcribed), on fresh random inputs (llm.c dev/cuda
// style). Tolerances are relative: max |gpu - ref| <= tol * max(1, max |ref|).
//   matvec (fp32 accumulation, any weight type) 2e-5; gather 1e-6; cuBLAS f32 2e-5,
//   f16 and quantized (activations rounded to f16) 3e-3, bf16 1.5e-2; norms 2e-5;
//   element-wise 2e-6; WKV 2e-5 (outputs and state).
// RAVEL_GPU_BENCH=1 also runs bench(): timings of the decode-critical kernels at 7B shapes.
#include <QtTest>
#include <cmath>
#include <cstdlib>
#include <random>
#include <tuple>
#include <vector>

#include "model/matrix.hpp"
#include "model/ops.hpp"
#include "ravel/quant.hpp"
#include "ravel_kernels/blas.hpp"
#include "ravel_kernels/elementwise.hpp"
#include "ravel_kernels/matvec.hpp"
#include "ravel_kernels/norm.hpp"
#include "ravel_kernels/runtime.hpp"
#include "ravel_kernels/wkv4.hpp"
#include "ravel_kernels/wkv5.hpp"
#include "ravel_kernels/wkv7.hpp"

namespace k = ravel::kernels;
using Vec = std::vector<float>;

namespace {

std::mt19937 rng(20240601);

Vec random_vec(std::size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    Vec v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// A device buffer filled from (or read back into) host vectors.
class Buf {
  public:
    explicit Buf(std::size_t bytes) : bytes_(bytes) {
        if (k::device_alloc(&p_, bytes == 0 ? 1 : bytes) != 0) p_ = nullptr;
        // NaN poison (0xff bytes): an output element the kernel forgets to write fails.
        if (p_ != nullptr) k::copy_h2d(p_, std::vector<unsigned char>(bytes, 0xff).data(), bytes);
    }
    explicit Buf(const Vec& v) : Buf(v.size() * sizeof(float)) {
        if (p_ != nullptr) k::copy_h2d(p_, v.data(), bytes_);
    }
    Buf(const void* data, std::size_t bytes) : Buf(bytes) {
        if (p_ != nullptr) k::copy_h2d(p_, data, bytes);
    }
    ~Buf() {
        if (p_ != nullptr) k::device_free(p_);
    }
    Buf(const Buf&) = delete;
    Buf& operator=(const Buf&) = delete;
    float* f() const { return static_cast<float*>(p_); }
    void* get() const { return p_; }
    Vec read() const {
        Vec v(bytes_ / sizeof(float));
        k::copy_d2h(v.data(), p_, v.size() * sizeof(float));
        return v;
    }

  private:
    void* p_ = nullptr;
    std::size_t bytes_;
};

// Relative error as above; NaN counts as infinitely wrong.
double rel_error(const Vec& got, const Vec& ref) {
    double scale = 1, err = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        scale = std::max(scale, static_cast<double>(std::fabs(ref[i])));
        const double e = std::fabs(static_cast<double>(got[i]) - ref[i]);
        err = std::isnan(e) ? INFINITY : std::max(err, e);
    }
    return err / scale;
}

#define CHECK_CLOSE(got, ref, tol)                                                       \
    do {                                                                                 \
        QCOMPARE((got).size(), (ref).size());                                            \
        const double e_ = rel_error((got), (ref));                                       \
        QVERIFY2(e_ <= (tol),                                                            \
                 qPrintable(QStringLiteral("relative error %1 > %2").arg(e_).arg(tol))); \
    } while (false)

#define CHECK_OK(status)                        \
    do {                                        \
        const int s_ = (status);                \
        QVERIFY2(s_ == 0, k::error_string(s_)); \
        const int l_ = k::stream_sync(nullptr); \
        QVERIFY2(l_ == 0, k::error_string(l_)); \
    } while (false)

k::WType wtype(ravel::DType t) {
    return static_cast<k::WType>(static_cast<int>(t));  // same order, checked in initTestCase
}

struct DeviceMatrix {
    ravel::detail::Matrix host;
    std::unique_ptr<Buf> dev;
    k::WeightView view;
};

DeviceMatrix make_device_matrix(const Vec& values, int rows, int cols, ravel::DType type) {
    DeviceMatrix m;
    auto made = ravel::detail::make_matrix(values.data(), rows, cols, type);
    m.host = std::move(*made);
    m.dev = std::make_unique<Buf>(m.host.data, m.host.bytes());
    m.view = {wtype(m.host.type), rows, cols, m.host.row_bytes, m.dev->get()};
    return m;
}

// W x for T tokens (dense, T x cols) from the dequantized weights, accumulated in double. The
// CPU's own product is no reference for the GPU's: for q8_0/q4_0 it rounds the activations to
// int8 blocks (as llama.cpp does), an error of ~3e-3 that the GPU, keeping fp32, lacks.
Vec reference_product(const ravel::detail::Matrix& w, const Vec& dense, int T) {
    Vec ref(static_cast<std::size_t>(T) * w.rows);
    Vec row(static_cast<std::size_t>(w.cols));
    for (int r = 0; r < w.rows; ++r) {
        const std::byte* src = w.data + static_cast<std::size_t>(r) * w.row_bytes;
        if (!ravel::dequantize_row(w.type, src, row.size(), row.data())) return {};
        for (int t = 0; t < T; ++t) {
            double acc = 0;
            for (int c = 0; c < w.cols; ++c)
                acc += static_cast<double>(row[static_cast<std::size_t>(c)]) *
                       dense[static_cast<std::size_t>(t) * w.cols + c];
            ref[static_cast<std::size_t>(t) * w.rows + r] = static_cast<float>(acc);
        }
    }
    return ref;
}

float sigmoid(float x) {
    return ravel::detail::sigmoid(x);
}

}  // namespace

class GpuKernels : public QObject {
    Q_OBJECT

  private slots:
    void initTestCase() {
        std::string why;
        if (k::device_count(why) <= 0) {
            QSKIP(
                qPrintable(QStringLiteral("no CUDA device: %1").arg(QString::fromStdString(why))));
        }
        QCOMPARE(static_cast<int>(k::WType::Q4_0), static_cast<int>(ravel::DType::Q4_0));
        QCOMPARE(static_cast<int>(k::WType::Q5_1), static_cast<int>(ravel::DType::Q5_1));
        QCOMPARE(static_cast<int>(k::WType::Q8_0), static_cast<int>(ravel::DType::Q8_0));
        QCOMPARE(static_cast<int>(k::WType::BF16), static_cast<int>(ravel::DType::BF16));
    }

    void matvec_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("T");
        QTest::addColumn<int>("ldx_pad");
        for (int t = 0; t <= static_cast<int>(ravel::DType::Q4_0); ++t) {
            const auto name = std::string(ravel::dtype_name(static_cast<ravel::DType>(t)));
            for (int T : {1, 3, 8}) {
                QTest::newRow((name + " 96x256 T" + std::to_string(T)).c_str())
                    << t << 96 << 256 << T << 0;
            }
            QTest::newRow((name + " 33x96 T2").c_str()) << t << 33 << 96 << 2 << 0;
            // Few long rows: several warps per row (every split the launcher picks).
            QTest::newRow((name + " 64x4096 T1").c_str()) << t << 64 << 4096 << 1 << 0;
            QTest::newRow((name + " 37x2048 T1").c_str()) << t << 37 << 2048 << 1 << 0;
            QTest::newRow((name + " 1000x1024 T1").c_str()) << t << 1000 << 1024 << 1 << 0;
            QTest::newRow((name + " 7x20 T2 (general path)").c_str()) << t << 7 << 20 << 2 << 0;
            QTest::newRow((name + " 40x64 T4 ldx+3 (general path)").c_str())
                << t << 40 << 64 << 4 << 3;
        }
    }
    void matvec() {
        QFETCH(int, dtype);
        QFETCH(int, rows);
        QFETCH(int, cols);
        QFETCH(int, T);
        QFETCH(int, ldx_pad);
        const auto m = make_device_matrix(random_vec(static_cast<std::size_t>(rows) * cols, -1, 1),
                                          rows, cols, static_cast<ravel::DType>(dtype));
        const int ldx = cols + ldx_pad;
        const Vec x = random_vec(static_cast<std::size_t>(T) * ldx, -2, 2);
        Vec dense(static_cast<std::size_t>(T) * cols);
        for (int t = 0; t < T; ++t)
            std::copy_n(x.begin() + t * ldx, cols, dense.begin() + t * cols);
        const Vec ref = reference_product(m.host, dense, T);

        Buf dx(x), dy(ref.size() * sizeof(float));
        CHECK_OK(k::matvec(m.view, dx.f(), ldx, T, dy.f(), rows, false, nullptr));
        CHECK_CLOSE(dy.read(), ref, 2e-5);

        const Vec y0 = random_vec(ref.size(), -1, 1);
        Buf dacc(y0);
        CHECK_OK(k::matvec(m.view, dx.f(), ldx, T, dacc.f(), rows, true, nullptr));
        Vec want = ref;
        for (std::size_t i = 0; i < want.size(); ++i) want[i] += y0[i];
        CHECK_CLOSE(dacc.read(), want, 2e-5);
    }

    // The activation applied by the product's own kernel (decoding), on the fast and the
    // general path and with several warps per row.
    void matvec_activation() {
        for (auto act : {k::Activation::Tanh, k::Activation::Sigmoid, k::Activation::Silu,
                         k::Activation::ReluSquare}) {
            for (auto [rows, cols, dtype] :
                 {std::tuple{64, 2048, ravel::DType::F16}, std::tuple{40, 64, ravel::DType::Q8_0},
                  std::tuple{7, 20, ravel::DType::F32}}) {
                const auto m = make_device_matrix(
                    random_vec(static_cast<std::size_t>(rows) * cols, -1, 1), rows, cols, dtype);
                const Vec x = random_vec(static_cast<std::size_t>(cols), -2, 2);
                Buf dx(x), dplain(rows * sizeof(float)), dact(rows * sizeof(float));
                CHECK_OK(k::matvec(m.view, dx.f(), cols, 1, dplain.f(), rows, false, nullptr));
                CHECK_OK(k::matvec(m.view, dx.f(), cols, 1, dact.f(), rows, false, nullptr, act));
                Vec want = dplain.read();
                for (float& v : want) {
                    const float sg = sigmoid(v);
                    v = act == k::Activation::Tanh      ? std::tanh(v)
                        : act == k::Activation::Sigmoid ? sg
                        : act == k::Activation::Silu    ? v * sg
                                                        : std::max(v, 0.0f) * std::max(v, 0.0f);
                }
                CHECK_CLOSE(dact.read(), want, 2e-6);
            }
        }
    }

    // Several products in one launch per weight type, the jobs of mixed types, sizes, splits
    // and activations, one of them only fit for the general path: each as its own product.
    void matvec_group() {
        struct Spec {
            int rows, cols;
            ravel::DType type;
            k::Activation act;
            bool accumulate;
        };
        const Spec specs[] = {
            {96, 256, ravel::DType::F16, k::Activation::None, false},
            {37, 2048, ravel::DType::F16, k::Activation::Tanh, false},
            {40, 64, ravel::DType::F32, k::Activation::Sigmoid, true},
            {2048, 64, ravel::DType::F32, k::Activation::None, false},
            {33, 96, ravel::DType::Q8_0, k::Activation::None, true},
            {1000, 1024, ravel::DType::Q4_0, k::Activation::ReluSquare, false},
            {64, 4096, ravel::DType::Q5_1, k::Activation::Silu, false},
            {7, 20, ravel::DType::F32, k::Activation::Silu, true},  // general path
        };
        constexpr int n = static_cast<int>(std::size(specs));
        static_assert(n <= k::kMaxMatvecJobs);
        std::vector<DeviceMatrix> mats;
        std::vector<std::unique_ptr<Buf>> xs, ys;
        std::vector<Vec> want;
        k::MatvecJob jobs[n];
        for (int i = 0; i < n; ++i) {
            const Spec& sp = specs[i];
            mats.push_back(
                make_device_matrix(random_vec(static_cast<std::size_t>(sp.rows) * sp.cols, -1, 1),
                                   sp.rows, sp.cols, sp.type));
            const Vec x = random_vec(static_cast<std::size_t>(sp.cols), -2, 2);
            const Vec y0 = random_vec(static_cast<std::size_t>(sp.rows), -1, 1);
            Vec ref = reference_product(mats.back().host, x, 1);
            for (std::size_t r = 0; r < ref.size(); ++r) {
                float v = sp.accumulate ? ref[r] + y0[r] : ref[r];
                const float sg = sigmoid(v);
                v = sp.act == k::Activation::Tanh         ? std::tanh(v)
                    : sp.act == k::Activation::Sigmoid    ? sg
                    : sp.act == k::Activation::Silu       ? v * sg
                    : sp.act == k::Activation::ReluSquare ? std::max(v, 0.0f) * std::max(v, 0.0f)
                                                          : v;
                ref[r] = v;
            }
            want.push_back(std::move(ref));
            xs.push_back(std::make_unique<Buf>(x));
            ys.push_back(std::make_unique<Buf>(y0));
            jobs[i] = {mats.back().view, xs.back()->f(), ys.back()->f(), sp.accumulate, sp.act};
        }
        CHECK_OK(k::matvec_group(jobs, n, nullptr));
        for (int i = 0; i < n; ++i) {
            qInfo("job %d: %dx%d %s", i, specs[i].rows, specs[i].cols,
                  ravel::dtype_name(specs[i].type).data());
            CHECK_CLOSE(ys[static_cast<std::size_t>(i)]->read(), want[static_cast<std::size_t>(i)],
                        2e-5);
        }
        QVERIFY(k::matvec_group(jobs, k::kMaxMatvecJobs + 1, nullptr) != 0);
    }

    void gather_rows() {
        for (int t = 0; t <= static_cast<int>(ravel::DType::Q4_0); ++t) {
            const int V = 50, C = 128;
            const auto m =
                make_device_matrix(random_vec(V * C, -1, 1), V, C, static_cast<ravel::DType>(t));
            const std::vector<int> tokens = {0, 49, 7, 7, 23};
            Buf dt(tokens.data(), tokens.size() * sizeof(int));
            Buf out(tokens.size() * C * sizeof(float));
            CHECK_OK(
                k::gather_rows(m.view, static_cast<const int*>(dt.get()), 5, out.f(), nullptr));
            Vec ref(tokens.size() * C);
            for (std::size_t i = 0; i < tokens.size(); ++i)
                ravel::detail::matrix_row_f32(m.host, tokens[i], ref.data() + i * C);
            CHECK_CLOSE(out.read(), ref, 1e-6);
        }
    }

    void gemm_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("T");
        QTest::addColumn<bool>("accumulate");
        for (int t = 0; t <= static_cast<int>(ravel::DType::Q4_0); ++t) {
            const auto name = std::string(ravel::dtype_name(static_cast<ravel::DType>(t)));
            QTest::newRow((name + " T5").c_str()) << t << 5 << false;
            QTest::newRow((name + " T37 accumulate").c_str()) << t << 37 << true;
        }
    }
    void gemm() {
        QFETCH(int, dtype);
        QFETCH(int, T);
        QFETCH(bool, accumulate);
        const int rows = 200, cols = 256, ldx = cols + 32;  // x is a slice of wider rows
        const auto type = static_cast<ravel::DType>(dtype);
        const auto m = make_device_matrix(random_vec(rows * cols, -1, 1), rows, cols, type);
        const Vec x = random_vec(static_cast<std::size_t>(T) * ldx, -1, 1);
        Vec dense(static_cast<std::size_t>(T) * cols);
        for (int t = 0; t < T; ++t)
            std::copy_n(x.begin() + t * ldx, cols, dense.begin() + t * cols);
        Vec ref = reference_product(m.host, dense, T);
        const Vec y0 = random_vec(ref.size(), -1, 1);
        if (accumulate) {
            for (std::size_t i = 0; i < ref.size(); ++i) ref[i] += y0[i];
        }

        k::Stream stream = nullptr;
        QCOMPARE(k::stream_create(&stream), 0);
        std::string why;
        k::Blas* blas = k::blas_create(stream, why);
        QVERIFY2(blas != nullptr, why.c_str());
        const std::size_t scratch_bytes = k::gemm_scratch_bytes(m.view, T);
        Buf scratch(scratch_bytes), dx(x), dy(y0);
        const int s = k::gemm(blas, m.view, dx.f(), ldx, T, dy.f(), rows, accumulate, scratch.get(),
                              scratch_bytes, stream);
        QCOMPARE(k::stream_sync(stream), 0);
        k::blas_destroy(blas);
        k::stream_destroy(stream);
        QVERIFY2(s == 0, k::error_string(s));
        const double tol = type == ravel::DType::F32    ? 2e-5
                           : type == ravel::DType::BF16 ? 1.5e-2
                                                        : 3e-3;
        CHECK_CLOSE(dy.read(), ref, tol);
    }

    void layer_norm() {
        for (int C : {768, 100}) {
            const int T = 5;
            const Vec x = random_vec(T * C, -3, 5), w = random_vec(C, 0.5, 1.5),
                      b = random_vec(C, -1, 1);
            Vec ref(x.size());
            for (int t = 0; t < T; ++t)
                ravel::detail::layer_norm(x.data() + t * C, w.data(), b.data(), ref.data() + t * C,
                                          C);
            Buf dx(x), dw(w), db(b), dy(x.size() * sizeof(float));
            CHECK_OK(k::layer_norm(dx.f(), dw.f(), db.f(), dy.f(), T, C, 1e-5f, nullptr));
            CHECK_CLOSE(dy.read(), ref, 2e-5);
        }
    }

    // Decoding's fused LayerNorm and token shift: the very values of layer_norm, token_mix and
    // the copy into the shift state.
    void layer_norm_shift() {
        for (auto mode : {k::MixMode::Lerp, k::MixMode::Blend}) {
            for (int C : {4096, 100}) {
                const Vec x = random_vec(C, -3, 5), w = random_vec(C, 0.5, 1.5),
                          b = random_vec(C, -1, 1), prev = random_vec(C, -2, 2),
                          off = random_vec(C, -0.5, 0.5);
                std::vector<Vec> mixes;
                for (int i = 0; i < 3; ++i) mixes.push_back(random_vec(C, 0, 1));
                Buf dx(x), dw(w), db(b), dprev(prev), doff(off), dxx(C * sizeof(float)),
                    dprev2(prev), dxx2(C * sizeof(float));
                std::vector<std::unique_ptr<Buf>> dm, fused, apart;
                k::MixSet fused_set, apart_set;
                for (int i = 0; i < 3; ++i) {
                    dm.push_back(std::make_unique<Buf>(mixes[i]));
                    fused.push_back(std::make_unique<Buf>(C * sizeof(float)));
                    apart.push_back(std::make_unique<Buf>(C * sizeof(float)));
                    const float* o = i == 1 && mode == k::MixMode::Lerp ? doff.f() : nullptr;
                    fused_set.terms[i] = {dm[i]->f(), o, fused[i]->f()};
                    apart_set.terms[i] = {dm[i]->f(), o, apart[i]->f()};
                }
                fused_set.count = apart_set.count = 3;
                CHECK_OK(k::layer_norm_shift(dx.f(), dw.f(), db.f(), dxx.f(), dprev.f(), C, 1e-5f,
                                             fused_set, mode, nullptr));
                CHECK_OK(k::layer_norm(dx.f(), dw.f(), db.f(), dxx2.f(), 1, C, 1e-5f, nullptr));
                CHECK_OK(k::token_mix(dxx2.f(), dprev2.f(), 1, C, apart_set, mode, nullptr));
                QCOMPARE(dxx.read(), dxx2.read());
                QCOMPARE(dprev.read(), dxx2.read());  // the shift state took the new row
                for (int i = 0; i < 3; ++i) QCOMPARE(fused[i]->read(), apart[i]->read());
                // And against the CPU's LayerNorm, so the pair is not merely self-consistent.
                Vec ref(C);
                ravel::detail::layer_norm(x.data(), w.data(), b.data(), ref.data(), C);
                CHECK_CLOSE(dxx.read(), ref, 2e-5);
            }
        }
    }

    void group_norm_out() {
        for (int variant = 0; variant < 3; ++variant) {  // plain, + gate, + gate and v7 bonus
            const int T = 3, H = 4, N = 64, C = H * N;
            const Vec y = random_vec(T * C, -2, 2), w = random_vec(C, 0.5, 1.5),
                      b = random_vec(C, -1, 1), g = random_vec(T * C, 0, 1),
                      r = random_vec(T * C, -1, 1), kk = random_vec(T * C, -1, 1),
                      rk = random_vec(C, -1, 1), v = random_vec(T * C, -1, 1);
            Vec ref = y;
            for (int t = 0; t < T; ++t) {
                float* yt = ref.data() + t * C;
                ravel::detail::group_norm(yt, w.data(), b.data(), C, H, 64e-5f);
                for (int h = 0; h < H && variant == 2; ++h) {
                    float bonus = 0;
                    for (int i = 0; i < N; ++i)
                        bonus += r[t * C + h * N + i] * kk[t * C + h * N + i] * rk[h * N + i];
                    for (int i = 0; i < N; ++i) yt[h * N + i] += bonus * v[t * C + h * N + i];
                }
                for (int c = 0; c < C && variant >= 1; ++c) yt[c] *= g[t * C + c];
            }
            Buf dy(y), dw(w), db(b), dg(g), dr(r), dk(kk), drk(rk), dv(v);
            k::GroupNormOut p;
            p.w = dw.f();
            p.b = db.f();
            if (variant >= 1) p.g = dg.f();
            if (variant == 2) p.r = dr.f(), p.k = dk.f(), p.rk = drk.f(), p.v = dv.f();
            CHECK_OK(k::group_norm_out(dy.f(), T, H, N, 64e-5f, p, nullptr));
            CHECK_CLOSE(dy.read(), ref, 2e-5);
        }
    }

    void l2_normalize() {
        const int G = 12, N = 64;
        const Vec x = random_vec(G * N, -2, 2);
        Vec ref = x;
        for (int g = 0; g < G; ++g) {
            double ss = 0;
            for (int i = 0; i < N; ++i) ss += static_cast<double>(x[g * N + i]) * x[g * N + i];
            const float inv = 1.0f / std::max(static_cast<float>(std::sqrt(ss)), 1e-12f);
            for (int i = 0; i < N; ++i) ref[g * N + i] *= inv;
        }
        Buf dx(x);
        CHECK_OK(k::l2_normalize(dx.f(), G, N, 1e-12f, nullptr));
        CHECK_CLOSE(dx.read(), ref, 2e-6);
    }

    void token_mix() {
        const int T = 4, C = 130;
        const Vec xx = random_vec(T * C, -2, 2), prev = random_vec(C, -2, 2),
                  off = random_vec(T * C, -0.5, 0.5);
        std::vector<Vec> mixes;
        for (int i = 0; i < 6; ++i) mixes.push_back(random_vec(C, 0, 1));
        Buf dxx(xx), dprev(prev), doff(off);
        std::vector<std::unique_ptr<Buf>> dm, dout;
        k::MixSet set;
        for (int i = 0; i < 6; ++i) {
            dm.push_back(std::make_unique<Buf>(mixes[i]));
            dout.push_back(std::make_unique<Buf>(T * C * sizeof(float)));
            set.terms[i] = {dm[i]->f(), i == 2 ? doff.f() : nullptr, dout[i]->f()};
        }
        set.count = 6;
        for (auto mode : {k::MixMode::Lerp, k::MixMode::Blend}) {
            CHECK_OK(k::token_mix(dxx.f(), dprev.f(), T, C, set, mode, nullptr));
            for (int i = 0; i < 6; ++i) {
                Vec ref(T * C);
                for (int t = 0; t < T; ++t) {
                    for (int c = 0; c < C; ++c) {
                        const float x = xx[t * C + c], s = t == 0 ? prev[c] : xx[(t - 1) * C + c];
                        const float m = mixes[i][c];
                        if (mode == k::MixMode::Lerp) {
                            const float f = i == 2 ? m + off[t * C + c] : m;
                            ref[t * C + c] = x + (s - x) * f;
                        } else {
                            ref[t * C + c] = x * m + s * (1.0f - m);
                        }
                    }
                }
                CHECK_CLOSE(dout[i]->read(), ref, 2e-6);
            }
        }
    }

    void activations() {
        const int T = 3, cols = 50, ld = 64;
        const Vec x = random_vec(T * ld, -4, 4);
        for (auto f : {k::Activation::Tanh, k::Activation::Sigmoid, k::Activation::Silu,
                       k::Activation::ReluSquare}) {
            Vec ref = x;
            for (int t = 0; t < T; ++t) {
                for (int c = 0; c < cols; ++c) {  // the padding stays as it was
                    float& v = ref[t * ld + c];
                    switch (f) {
                        case k::Activation::Tanh:
                            v = std::tanh(v);
                            break;
                        case k::Activation::Sigmoid:
                            v = sigmoid(v);
                            break;
                        case k::Activation::Silu:
                            v = ravel::detail::silu(v);
                            break;
                        case k::Activation::ReluSquare:
                            v = std::max(v, 0.0f) * std::max(v, 0.0f);
                            break;
                        case k::Activation::None:
                            break;
                    }
                }
            }
            Buf dx(x);
            CHECK_OK(k::activate(dx.f(), T, cols, ld, f, nullptr));
            CHECK_CLOSE(dx.read(), ref, 2e-6);
        }
    }

    void version_steps() {
        const int T = 3, C = 96;
        const std::size_t n = T * C;
        {  // v6 decay
            const Vec d = random_vec(n, -1, 1), base = random_vec(C, -4, -0.5);
            Vec ref(n);
            for (std::size_t i = 0; i < n; ++i) ref[i] = std::exp(-std::exp(base[i % C] + d[i]));
            Buf dd(d), db(base);
            CHECK_OK(k::v6_decay(dd.f(), db.f(), T, C, nullptr));
            CHECK_CLOSE(dd.read(), ref, 2e-6);
        }
        {  // x += sigmoid(r) * kv
            const Vec x = random_vec(n, -1, 1), r = random_vec(n, -3, 3), kv = random_vec(n, -2, 2);
            Vec ref = x;
            for (std::size_t i = 0; i < n; ++i) ref[i] += sigmoid(r[i]) * kv[i];
            Buf dx(x), dr(r), dkv(kv);
            CHECK_OK(k::add_sigmoid_gated(dx.f(), dr.f(), dkv.f(), n, nullptr));
            CHECK_CLOSE(dx.read(), ref, 2e-6);
        }
        for (bool residual : {false, true}) {  // v7 preparation, as in time_mix_v7
            Vec w = random_vec(n, -2, 2), a = random_vec(n, -2, 2), kv = random_vec(n, -1, 1),
                v = random_vec(n, -1, 1);
            const Vec vf = random_vec(n, -1, 1), vres = random_vec(n, -1, 1),
                      w0 = random_vec(C, -3, 0), a0 = random_vec(C, -1, 1),
                      k_k = random_vec(C, 0.5, 1.5), k_a = random_vec(C, 0, 1),
                      v0 = random_vec(C, -1, 1);
            Buf dw(w), da(a), dk(kv), dkk(n * sizeof(float)), dv(v), dvf(vf), dvres(vres), dw0(w0),
                da0(a0), dkk0(k_k), dka(k_a), dv0(v0);
            k::V7Prepare p{dw.f(),
                           da.f(),
                           dk.f(),
                           dkk.f(),
                           dv.f(),
                           dvf.f(),
                           residual ? dvres.f() : nullptr,
                           dw0.f(),
                           da0.f(),
                           dkk0.f(),
                           dka.f(),
                           dv0.f()};
            CHECK_OK(k::v7_prepare(p, T, C, nullptr));
            Vec kk(n);
            for (std::size_t i = 0; i < n; ++i) {
                const std::size_t c = i % C;
                w[i] = std::exp(-0.606531f * sigmoid(w0[c] + w[i]));
                a[i] = sigmoid(a0[c] + a[i]);
                kk[i] = kv[i] * k_k[c];
                kv[i] = kv[i] * (1.0f + (a[i] - 1.0f) * k_a[c]);
                if (residual) v[i] = v[i] + (vf[i] - v[i]) * sigmoid(v0[c] + vres[i]);
            }
            CHECK_CLOSE(dw.read(), w, 2e-6);
            CHECK_CLOSE(da.read(), a, 2e-6);
            CHECK_CLOSE(dkk.read(), kk, 2e-6);
            CHECK_CLOSE(dk.read(), kv, 2e-6);
            CHECK_CLOSE(dv.read(), v, 2e-6);
        }
    }

    // RWKV-4: two calls in a row, so the state carried between chunks is checked too.
    void wkv4() {
        for (int T : {1, 9, 70}) {
            const int C = 200;
            const Vec decay = random_vec(C, -3, -0.01f), bonus = random_vec(C, -0.5, 0.5);
            Vec aa(C, 0), bb(C, 0), pp(C, -1e30f);
            Buf daa(aa), dbb(bb), dpp(pp), dd(decay), du(bonus);
            for (int call = 0; call < 2; ++call) {
                const Vec kx = random_vec(T * C, -3, 3), v = random_vec(T * C, -2, 2),
                          r = random_vec(T * C, -3, 3);
                Vec y(T * C);
                for (int t = 0; t < T; ++t) {
                    for (int c = 0; c < C; ++c) {
                        const std::size_t i = t * C + c;
                        float ww = bonus[c] + kx[i];
                        float q = std::max(pp[c], ww);
                        float e1 = std::exp(pp[c] - q), e2 = std::exp(ww - q);
                        y[i] = sigmoid(r[i]) * (e1 * aa[c] + e2 * v[i]) / (e1 * bb[c] + e2);
                        ww = decay[c] + pp[c];
                        q = std::max(ww, kx[i]);
                        e1 = std::exp(ww - q);
                        e2 = std::exp(kx[i] - q);
                        aa[c] = e1 * aa[c] + e2 * v[i];
                        bb[c] = e1 * bb[c] + e2;
                        pp[c] = q;
                    }
                }
                Buf dk(kx), dv(v), dr(r), dy(T * C * sizeof(float));
                CHECK_OK(k::wkv4(T, C, dd.f(), du.f(), dk.f(), dv.f(), dr.f(), daa.f(), dbb.f(),
                                 dpp.f(), dy.f(), nullptr));
                CHECK_CLOSE(dy.read(), y, 2e-5);
                CHECK_CLOSE(daa.read(), aa, 2e-5);
                CHECK_CLOSE(dbb.read(), bb, 2e-5);
                CHECK_CLOSE(dpp.read(), pp, 2e-5);
            }
        }
    }

    void wkv5_data() {
        QTest::addColumn<int>("N");
        QTest::addColumn<int>("T");
        QTest::addColumn<bool>("per_token");
        QTest::addColumn<bool>("sequence_form");
        for (int N : {8, 64}) {
            for (int T : {1, 6, 40}) {
                for (bool pt : {false, true}) {
                    for (bool seq : {false, true}) {
                        if (T > 1 && !seq) continue;  // the one-token form is for T = 1
                        QTest::newRow(qPrintable(QStringLiteral("N%1 T%2%3%4")
                                                     .arg(N)
                                                     .arg(T)
                                                     .arg(pt ? " v6" : " v5.2")
                                                     .arg(seq ? " sequence" : " one-token")))
                            << N << T << pt << seq;
                    }
                }
            }
        }
    }
    void wkv5() {
        QFETCH(int, N);
        QFETCH(int, T);
        QFETCH(bool, per_token);
        QFETCH(bool, sequence_form);
        const int H = 3, C = H * N;
        const Vec r = random_vec(T * C, -1, 1), kx = random_vec(T * C, -1, 1),
                  v = random_vec(T * C, -1, 1),
                  decay = random_vec(per_token ? T * C : C, 0.5, 0.999),
                  u = random_vec(C, -0.5, 0.5);
        Vec S = random_vec(static_cast<std::size_t>(H) * N * N, -1, 1);
        Buf dS(S), dr(r), dk(kx), dv(v), dw(decay), du(u), dy(T * C * sizeof(float));
        CHECK_OK(k::wkv5(T, H, N, dr.f(), dk.f(), dv.f(), dw.f(), per_token, du.f(), dS.f(), dy.f(),
                         nullptr, sequence_form));
        Vec y(T * C, 0.0f);
        for (int t = 0; t < T; ++t) {
            for (int h = 0; h < H; ++h) {
                const std::size_t ho = t * C + h * N;
                for (int i = 0; i < N; ++i) {
                    const float ki = kx[ho + i], ri = r[ho + i], ui = u[h * N + i];
                    const float wi = decay[(per_token ? t * C : 0) + h * N + i];
                    float* Si = S.data() + (static_cast<std::size_t>(h) * N + i) * N;
                    for (int j = 0; j < N; ++j) {
                        const float kv = ki * v[ho + j];
                        y[ho + j] += ri * (ui * kv + Si[j]);
                        Si[j] = kv + wi * Si[j];
                    }
                }
            }
        }
        CHECK_CLOSE(dy.read(), y, 2e-5);
        CHECK_CLOSE(dS.read(), S, 2e-5);
    }

    void wkv7_data() {
        QTest::addColumn<int>("N");
        QTest::addColumn<int>("T");
        QTest::addColumn<bool>("sequence_form");
        for (int N : {8, 64}) {
            for (int T : {1, 6, 40}) {
                for (bool seq : {false, true}) {
                    if (T > 1 && !seq) continue;
                    QTest::newRow(qPrintable(QStringLiteral("N%1 T%2%3")
                                                 .arg(N)
                                                 .arg(T)
                                                 .arg(seq ? " sequence" : " one-token")))
                        << N << T << seq;
                }
            }
        }
    }
    void wkv7() {
        QFETCH(int, N);
        QFETCH(int, T);
        QFETCH(bool, sequence_form);
        const int H = 3, C = H * N;
        const Vec r = random_vec(T * C, -1, 1), w = random_vec(T * C, 0.6f, 0.999f),
                  kx = random_vec(T * C, -1, 1), v = random_vec(T * C, -1, 1),
                  a = random_vec(T * C, 0, 1);
        Vec kk = random_vec(T * C, -1, 1);
        for (int g = 0; g < T * H; ++g) {  // unit vectors per head, as the forward pass makes them
            double ss = 0;
            for (int i = 0; i < N; ++i) ss += static_cast<double>(kk[g * N + i]) * kk[g * N + i];
            for (int i = 0; i < N; ++i) kk[g * N + i] /= static_cast<float>(std::sqrt(ss));
        }
        Vec S = random_vec(static_cast<std::size_t>(H) * N * N, -1, 1);
        Buf dS(S), dr(r), dw(w), dk(kx), dv(v), dkk(kk), da(a), dy(T * C * sizeof(float));
        CHECK_OK(k::wkv7(T, H, N, dr.f(), dw.f(), dk.f(), dv.f(), dkk.f(), da.f(), dS.f(), dy.f(),
                         nullptr, sequence_form));
        Vec y(T * C), sa(N);
        for (int t = 0; t < T; ++t) {
            for (int h = 0; h < H; ++h) {
                const std::size_t ho = t * C + h * N;
                float* Sh = S.data() + static_cast<std::size_t>(h) * N * N;
                for (int i = 0; i < N; ++i) {
                    float acc = 0;
                    for (int j = 0; j < N; ++j) acc -= Sh[i * N + j] * kk[ho + j];
                    sa[i] = acc;
                }
                for (int i = 0; i < N; ++i) {
                    float acc = 0;
                    for (int j = 0; j < N; ++j) {
                        float& s = Sh[i * N + j];
                        s = s * w[ho + j] + sa[i] * kk[ho + j] * a[ho + j] + v[ho + i] * kx[ho + j];
                        acc += s * r[ho + j];
                    }
                    y[ho + i] = acc;
                }
            }
        }
        CHECK_CLOSE(dy.read(), y, 2e-5);
        CHECK_CLOSE(dS.read(), S, 2e-5);
    }

    // Decoding's fused RWKV-7 attention against the chain of kernels it replaces (each checked
    // against the CPU above): preparation, value residual, kk normalisation, WKV, GroupNorm.
    void wkv7_decode() {
        for (int N : {16, 64}) {
            for (bool first : {true, false}) {
                const int H = 3, C = H * N;
                const Vec r = random_vec(C, -1, 1), w = random_vec(C, -2, 2),
                          a = random_vec(C, -2, 2), kx = random_vec(C, -1, 1),
                          v = random_vec(C, -1, 1), vres = random_vec(C, -1, 1),
                          vf = random_vec(C, -1, 1), g = random_vec(C, 0, 1),
                          w0 = random_vec(C, -3, 0), a0 = random_vec(C, -1, 1),
                          k_k = random_vec(C, 0.5, 1.5), k_a = random_vec(C, 0, 1),
                          v0 = random_vec(C, -1, 1), r_k = random_vec(C, -1, 1),
                          lnw = random_vec(C, 0.5, 1.5), lnb = random_vec(C, -1, 1),
                          S = random_vec(static_cast<std::size_t>(H) * N * N, -1, 1);
                // The chain, on its own copies.
                Buf cw(w), ca(a), ck(kx), ckk(C * sizeof(float)), cv(v), cvf(vf), cvres(vres),
                    cr(r), cg(g), cS(S), cy(C * sizeof(float));
                Buf dw0(w0), da0(a0), dkk0(k_k), dka(k_a), dv0(v0), drk(r_k), dlnw(lnw), dlnb(lnb);
                k::V7Prepare prep{cw.f(),
                                  ca.f(),
                                  ck.f(),
                                  ckk.f(),
                                  cv.f(),
                                  cvf.f(),
                                  first ? nullptr : cvres.f(),
                                  dw0.f(),
                                  da0.f(),
                                  dkk0.f(),
                                  dka.f(),
                                  dv0.f()};
                CHECK_OK(k::v7_prepare(prep, 1, C, nullptr));
                if (first) CHECK_OK(k::copy_d2d_async(cvf.f(), cv.f(), C * sizeof(float), nullptr));
                CHECK_OK(k::l2_normalize(ckk.f(), H, N, 1e-12f, nullptr));
                CHECK_OK(k::wkv7(1, H, N, cr.f(), cw.f(), ck.f(), cv.f(), ckk.f(), ca.f(), cS.f(),
                                 cy.f(), nullptr));
                k::GroupNormOut gn;
                gn.w = dlnw.f(), gn.b = dlnb.f(), gn.g = cg.f(), gn.r = cr.f(), gn.k = ck.f();
                gn.rk = drk.f(), gn.v = cv.f();
                CHECK_OK(k::group_norm_out(cy.f(), 1, H, N, 64e-5f, gn, nullptr));

                Buf fw(w), fa(a), fk(kx), fv(v), fvf(vf), fvres(vres), fr(r), fg(g), fS(S),
                    fy(C * sizeof(float));
                k::Wkv7Decode d{};
                d.r = fr.f(), d.w = fw.f(), d.a = fa.f(), d.k = fk.f(), d.v = fv.f();
                d.vres = first ? nullptr : fvres.f();
                d.v_first = fvf.f();
                d.first_layer = first;
                d.g = fg.f();
                d.w0 = dw0.f(), d.a0 = da0.f(), d.k_k = dkk0.f(), d.k_a = dka.f(), d.v0 = dv0.f();
                d.r_k = drk.f(), d.ln_w = dlnw.f(), d.ln_b = dlnb.f();
                d.state = fS.f();
                d.y = fy.f();
                d.norm_eps = 1e-12f;
                d.group_norm_eps = 64e-5f;
                CHECK_OK(k::wkv7_decode(d, H, N, nullptr));
                CHECK_CLOSE(fy.read(), cy.read(), 1e-5);
                CHECK_CLOSE(fS.read(), cS.read(), 1e-5);
                CHECK_CLOSE(fvf.read(), cvf.read(), 0);  // v_first: taken on the first layer only
            }
        }
    }

    // Micro-benchmarks at 7B shapes (C = 4096, H = 64): time per call and the rate reached.
    void bench() {
        const char* on = std::getenv("RAVEL_GPU_BENCH");
        if (on == nullptr || std::string(on) != "1")
            QSKIP("set RAVEL_GPU_BENCH=1 to time the kernels");
        k::Stream s = nullptr;
        QCOMPARE(k::stream_create(&s), 0);
        k::Event e0 = nullptr, e1 = nullptr;
        k::event_create(&e0);
        k::event_create(&e1);
        auto time_ms = [&](auto&& fn, int reps) {
            fn();
            k::event_record(e0, s);
            for (int i = 0; i < reps; ++i) fn();
            k::event_record(e1, s);
            float ms = 0;
            k::event_elapsed_ms(e0, e1, &ms);
            return static_cast<double>(ms) / reps;
        };
        const int C = 4096, H = 64, N = 64;
        // Decode-shaped products from device memory: copies of the matrix are rotated so the
        // bytes read (>= 256 MB) are several times the 50-60 MB L2, as in a real token.
        for (auto type : {ravel::DType::F16, ravel::DType::BF16, ravel::DType::Q8_0}) {
            for (int rows : {C, 4 * C}) {
                const auto m = make_device_matrix(
                    random_vec(static_cast<std::size_t>(rows) * C, -1, 1), rows, C, type);
                const int copies = static_cast<int>(
                    std::max<std::size_t>(2, (std::size_t{256} << 20) / m.host.bytes() + 1));
                std::vector<std::unique_ptr<Buf>> dev;
                for (int c = 0; c < copies; ++c)
                    dev.push_back(std::make_unique<Buf>(m.host.data, m.host.bytes()));
                Buf x(random_vec(C, -1, 1)), y(rows * sizeof(float));
                int next = 0;
                const double ms = time_ms(
                    [&] {
                        k::WeightView view = m.view;
                        view.data = dev[static_cast<std::size_t>(next++ % copies)]->get();
                        k::matvec(view, x.f(), C, 1, y.f(), rows, false, s);
                    },
                    20 * copies);
                qInfo("matvec %s %dx%d T=1 (from HBM, %d copies): %.4f ms, %.0f GB/s",
                      std::string(ravel::dtype_name(type)).c_str(), rows, C, copies, ms,
                      m.host.bytes() / (ms * 1e-3) / 1e9);
            }
        }
        {
            Buf r(random_vec(512 * C, -1, 1)), w(random_vec(512 * C, 0.6f, 0.99f)),
                kx(random_vec(512 * C, -1, 1)), v(random_vec(512 * C, -1, 1)),
                kk(random_vec(512 * C, -0.1f, 0.1f)), a(random_vec(512 * C, 0, 1)),
                S(random_vec(static_cast<std::size_t>(H) * N * N, -1, 1)),
                y(512 * C * sizeof(float));
            for (bool seq : {false, true}) {
                const double ms = time_ms(
                    [&] {
                        k::wkv7(1, H, N, r.f(), w.f(), kx.f(), v.f(), kk.f(), a.f(), S.f(), y.f(),
                                s, seq);
                    },
                    200);
                qInfo("wkv7 H64 N64 T=1 (%s form): %.4f ms", seq ? "sequence" : "one-token", ms);
            }
            const double ms = time_ms(
                [&] {
                    k::wkv7(512, H, N, r.f(), w.f(), kx.f(), v.f(), kk.f(), a.f(), S.f(), y.f(), s);
                },
                10);
            qInfo("wkv7 H64 N64 T=512: %.3f ms (%.2f us/token)", ms, ms * 1000 / 512);
        }
        {
            Buf x(random_vec(512 * C, -1, 1)), w(random_vec(C, 0.5, 1.5)), b(random_vec(C, -1, 1)),
                y(512 * C * sizeof(float));
            const double ms =
                time_ms([&] { k::layer_norm(x.f(), w.f(), b.f(), y.f(), 512, C, 1e-5f, s); }, 50);
            qInfo("layer_norm 512x4096: %.4f ms, %.0f GB/s", ms,
                  2.0 * 512 * C * 4 / (ms * 1e-3) / 1e9);
        }
        {
            std::string why;
            k::Blas* blas = k::blas_create(s, why);
            QVERIFY2(blas != nullptr, why.c_str());
            const auto m = make_device_matrix(random_vec(static_cast<std::size_t>(C) * C, -1, 1), C,
                                              C, ravel::DType::F16);
            for (int T : {128, 512, 1024}) {
                Buf x(random_vec(static_cast<std::size_t>(T) * C, -1, 1)),
                    y(static_cast<std::size_t>(T) * C * sizeof(float));
                const std::size_t sb = k::gemm_scratch_bytes(m.view, T);
                Buf scratch(sb);
                const double ms = time_ms(
                    [&] {
                        k::gemm(blas, m.view, x.f(), C, T, y.f(), C, false, scratch.get(), sb, s);
                    },
                    20);
                qInfo("gemm f16 4096x4096 T=%d (with the f16 rounding of x): %.4f ms, %.1f TFLOP/s",
                      T, ms, 2.0 * C * C * T / (ms * 1e-3) / 1e12);
            }
            k::blas_destroy(blas);
        }
        QCOMPARE(k::stream_sync(s), 0);
        k::event_destroy(e0);
        k::event_destroy(e1);
        k::stream_destroy(s);
    }
};

QTEST_GUILESS_MAIN(GpuKernels)
#include "test_gpu_kernels.moc"
