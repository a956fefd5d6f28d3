// The whole forward pass on a GPU against the CPU path (itself checked against ChatRWKV), in
// every mode and weight type, plus device choice, the CPU fall-back and the memory check.
//
// Tolerances: max |gpu - cpu| <= tol * max(1, max |cpu|) over all logits rows.
//   - matrix-vector modes (step, chunked:3; products in fp32 on any weight type): 1e-4
//   - cuBLAS modes (chunked:16, sequence): f32 weights 1e-4; 16-bit and quantized weights
//     round the activations to f16 (bf16 for bf16 weights) before the product: 2e-2 (f16,
//     q5_1) and 5e-2 (bf16)
//   - q8_0 and q4_0: the CPU path rounds the activations to int8 blocks of 32 for its integer
//     dot products (as llama.cpp does) where the GPU keeps them in fp32, so the GPU is held
//     to the CPU's own budget against ChatRWKV (mean KL and top-1, logit_agreement.hpp);
//     test_gpu_kernels checks the GPU kernels themselves against dequantized weights
//   - graph replay vs eager launches: bit-identical; one-token WKV vs sequence WKV: 1e-5
//   - f32 weights: also within each case's own tolerance of ChatRWKV's logits
// These bounds are reasoned from the rounding involved; the observed errors are printed. Worst
// relative errors on the H200 run of 2026-11-30, matrix-vector / cuBLAS modes: f32 3.8e-6 /
// 2.3e-6, f16 1.4e-6 / 9.9e-4, bf16 1.8e-6 / 2.3e-2, q5_1 6.4e-6 / 3.4e-3; q8_0 4.5e-2 and
// q4_0 8.9e-2 against the CPU's int8-activation path (random-v5.2 and tiny-5v2, repeat16).
#include <QtTest>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "logit_agreement.hpp"
#include "ravel/device.hpp"
#include "ravel/model.hpp"
#include "ravel/session.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Diff {
    double max_abs = 0;
    double scale = 1;
    double rel() const { return max_abs / scale; }
};

Diff compare(std::span<const float> got, std::span<const float> ref) {
    Diff d;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        d.scale = std::max(d.scale, static_cast<double>(std::fabs(ref[i])));
        const double e = std::fabs(static_cast<double>(got[i]) - ref[i]);
        if (!(e <= d.max_abs)) d.max_abs = std::isnan(e) ? INFINITY : e;
    }
    return d;
}

std::vector<std::int32_t> read_tokens(const fs::path& path) {
    std::ifstream in(path);
    std::vector<std::int32_t> out;
    long v;
    while (in >> v) out.push_back(static_cast<std::int32_t>(v));
    return out;
}

// All rows of logits for `tokens` fed in chunks of `chunk` (0 = all at once).
ravel::Result<std::vector<float>> run(const std::shared_ptr<const ravel::Model>& model,
                                      const std::vector<std::int32_t>& tokens, int chunk,
                                      ravel::State* final_state = nullptr) {
    ravel::Session session(model);
    std::vector<float> out(tokens.size() * static_cast<std::size_t>(model->config().n_vocab));
    ravel::FeedOptions o;
    o.chunk_size = chunk == 0 ? static_cast<int>(tokens.size()) : chunk;
    o.all_logits = out;
    if (auto ok = session.feed(tokens, o); !ok) return ok.error();
    if (final_state != nullptr) *final_state = session.state();
    return out;
}

double tolerance(ravel::DType type, int chunk) {
    const bool blas = chunk == 0 || chunk > 4;
    if (!blas || type == ravel::DType::F32) return 1e-4;
    return type == ravel::DType::BF16 ? 5e-2 : 2e-2;
}

struct EnvGuard {
    const char* name;
    EnvGuard(const char* n, const char* value) : name(n) { setenv(n, value, 1); }
    ~EnvGuard() { unsetenv(name); }
};

}  // namespace

class GpuForward : public QObject {
    Q_OBJECT

    std::string no_gpu_;  // why no GPU can be used; empty when one can

#define REQUIRE_GPU()                                                                        \
    do {                                                                                     \
        if (!no_gpu_.empty())                                                                \
            QSKIP(qPrintable(                                                                \
                QStringLiteral("no CUDA device: %1").arg(QString::fromStdString(no_gpu_)))); \
    } while (false)

    std::shared_ptr<const ravel::Model> load(const fs::path& file, ravel::DType type,
                                             const std::string& device) {
        ravel::LoadOptions o;
        o.weight_type = type;
        o.device = device;
        auto m = ravel::Model::load(file, o);
        if (!m) qWarning("%s", m.message().c_str());
        return m ? *m : nullptr;
    }

  private slots:
    void initTestCase() {
        auto devices = ravel::cuda_devices();
        if (!devices) {
            no_gpu_ = devices.message();
            qInfo("no CUDA device: %s", no_gpu_.c_str());
            return;
        }
        for (const auto& d : *devices) {
            qInfo("cuda:%d %s, compute %d.%d, %d SMs, %.1f of %.1f GiB free", d.index,
                  d.name.c_str(), d.compute_major, d.compute_minor, d.multiprocessors,
                  d.free_bytes / 1073741824.0, d.total_bytes / 1073741824.0);
        }
    }

    // Needs no GPU: names are checked before anything is loaded.
    void device_names() {
        QVERIFY(!ravel::parse_device("cpu")->cuda);
        QVERIFY(ravel::parse_device("cuda")->cuda);
        QCOMPARE(ravel::parse_device("cuda")->index, 0);
        QCOMPARE(ravel::parse_device("cuda:3")->index, 3);
        QVERIFY(!ravel::parse_device("cuda:").ok());
        QVERIFY(!ravel::parse_device("cuda:-1").ok());
        QVERIFY(!ravel::parse_device("cuda:1x").ok());
        QVERIFY(!ravel::parse_device("tpu").ok());
        ravel::LoadOptions o;
        o.device = "tpu";
        auto m = ravel::Model::synthetic({ravel::Arch::V7, 1, 64, 256, 64, 1}, o);
        QVERIFY(!m.ok());
        QVERIFY(m.message().find("unknown device") != std::string::npos);
    }

    // In every build: without a usable GPU the model runs on the CPU and says why; with one it
    // is on the GPU and says nothing.
    void fallback_reason() {
        ravel::LoadOptions o;
        o.device = "cuda";
        auto m = ravel::Model::synthetic({ravel::Arch::V7, 1, 64, 256, 64, 1}, o);
        QVERIFY2(m.ok(), m.ok() ? "" : m.message().c_str());
        if (no_gpu_.empty()) {
            QCOMPARE(QString::fromStdString((*m)->device()), QStringLiteral("cuda:0"));
            QVERIFY((*m)->device_note().empty());
        } else {
            QCOMPARE(QString::fromStdString((*m)->device()), QStringLiteral("cpu"));
            QVERIFY2((*m)->device_note().find(no_gpu_) != std::string::npos,
                     (*m)->device_note().c_str());
            ravel::Session s(*m);
            QVERIFY(s.step(1).ok());  // and it runs
        }
    }

    void missing_device_index_is_an_error() {
        REQUIRE_GPU();
        ravel::LoadOptions o;
        o.device = "cuda:999";
        auto m = ravel::Model::synthetic({ravel::Arch::V7, 1, 64, 256, 64, 1}, o);
        QVERIFY(!m.ok());
        QVERIFY2(m.message().find("there is no GPU cuda:999") != std::string::npos,
                 m.message().c_str());
    }

    // Refused before any weight is built: 64 x 16384 in f32 is about 0.8 TB.
    void too_large_model_is_refused() {
        REQUIRE_GPU();
        ravel::LoadOptions o;
        o.device = "cuda";
        auto m = ravel::Model::synthetic({ravel::Arch::V7, 64, 16384, 65536, 64, 1}, o);
        QVERIFY(!m.ok());
        QVERIFY2(m.message().find("does not fit") != std::string::npos, m.message().c_str());
    }

    void shared_models_data() {
        QTest::addColumn<QString>("case_dir");
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("chunk");
        if (!ravel::test::shared_data_present()) {
            QTest::newRow("no-data") << QString() << 0 << 0;
            return;
        }
        std::vector<fs::path> dirs;
        for (const auto& e : fs::directory_iterator(ravel::test::shared_data_dir() / "models")) {
            if (fs::exists(e.path() / "case.json")) dirs.push_back(e.path());
        }
        std::sort(dirs.begin(), dirs.end());
        const ravel::DType types[] = {ravel::DType::F32,  ravel::DType::F16,  ravel::DType::BF16,
                                      ravel::DType::Q8_0, ravel::DType::Q5_1, ravel::DType::Q4_0};
        for (const auto& dir : dirs) {
            for (ravel::DType t : types) {
                for (int chunk : {1, 3, 16, 0}) {
                    const QString name =
                        QStringLiteral("%1/%2/%3")
                            .arg(QString::fromStdString(dir.filename().string()))
                            .arg(QString::fromStdString(std::string(ravel::dtype_name(t))))
                            .arg(chunk == 0   ? QStringLiteral("sequence")
                                 : chunk == 1 ? QStringLiteral("step")
                                              : QStringLiteral("chunked:%1").arg(chunk));
                    QTest::newRow(qPrintable(name))
                        << QString::fromStdString(dir.string()) << static_cast<int>(t) << chunk;
                }
            }
        }
    }

    void shared_models() {
        QFETCH(QString, case_dir);
        QFETCH(int, dtype);
        QFETCH(int, chunk);
        RAVEL_REQUIRE_SHARED_DATA();
        REQUIRE_GPU();
        const fs::path dir = case_dir.toStdString();
        const auto type = static_cast<ravel::DType>(dtype);
        std::ifstream cf(dir / "case.json");
        const json c = json::parse(cf);
        auto cpu = load(dir / "model.safetensors", type, "cpu");
        auto gpu = load(dir / "model.safetensors", type, "cuda");
        QVERIFY(cpu && gpu);
        QVERIFY2(gpu->device() == "cuda:0", gpu->device_note().c_str());
        // q8_0 / q4_0: the CPU rounds its activations to int8 blocks for its integer dot
        // products and the GPU keeps them in fp32, so the two drift apart over a sequence by
        // more than either drifts from the fp32 reference (first H200 run: up to 9% of the
        // logit scale on random-v5.2 repeat16, where the CPU itself is 0.65 from ChatRWKV).
        // Both are held to the same budget against ChatRWKV instead.
        const bool int8_activations_on_cpu =
            type == ravel::DType::Q8_0 || type == ravel::DType::Q4_0;
        ravel::test::LogitAgreement gpu_vs_ref, cpu_vs_ref;
        const std::size_t V = static_cast<std::size_t>(gpu->config().n_vocab);
        for (const json& seq : c["sequences"]) {
            const auto tokens = read_tokens(dir / seq["files"]["tokens"].get<std::string>());
            ravel::State cpu_state, gpu_state;
            auto want = run(cpu, tokens, 0, &cpu_state);
            auto got = run(gpu, tokens, chunk, &gpu_state);
            QVERIFY2(want.ok(), want.ok() ? "" : want.message().c_str());
            QVERIFY2(got.ok(), got.ok() ? "" : got.message().c_str());
            const auto ref =
                ravel::test::read_f32_file(dir / seq["files"]["logits"].get<std::string>());
            QCOMPARE(ref.size(), got->size());
            gpu_vs_ref.add(ref.data(), got->data(), tokens.size(), V);
            cpu_vs_ref.add(ref.data(), want->data(), tokens.size(), V);
            const Diff d = compare(*got, *want);
            const double tol = tolerance(type, chunk);
            qInfo("%s: logits max |gpu - cpu| %.3g (%.3g of scale %.3g; tolerance %.3g)",
                  seq["name"].get<std::string>().c_str(), d.max_abs, d.rel(), d.scale, tol);
            if (int8_activations_on_cpu) continue;
            QVERIFY2(
                d.rel() <= tol,
                qPrintable(
                    QStringLiteral("logits differ by %1 (scale %2)").arg(d.max_abs).arg(d.scale)));
            const Diff s = compare(gpu_state.values(), cpu_state.values());
            QVERIFY2(s.rel() <= std::max(tol, 1e-4),
                     qPrintable(QStringLiteral("state differs by %1").arg(s.max_abs)));
            if (type == ravel::DType::F32) {
                const double atol = seq["tolerance"]["logits_max_abs"].get<double>();
                const Diff r = compare(*got, ref);
                QVERIFY2(r.max_abs <= atol,
                         qPrintable(QStringLiteral("ChatRWKV logits differ by %1").arg(r.max_abs)));
            }
        }
        qInfo("against ChatRWKV: GPU mean KL %.3g, top-1 %.4f; CPU mean KL %.3g, top-1 %.4f",
              gpu_vs_ref.mean_kl(), gpu_vs_ref.top1(), cpu_vs_ref.mean_kl(), cpu_vs_ref.top1());
        // Only where it stands in for the comparison with the CPU: in cuBLAS modes the GPU
        // rounds activations to bf16 for bf16 weights, which the CPU does not (first run: top-1
        // 0.969 on random-v7 against the CPU budget's 0.97; the 5e-2 check above covers it).
        const ravel::test::Bound* b = ravel::test::bound_for(type);
        if (int8_activations_on_cpu && b != nullptr) {
            // The GPU's products keep fp32 activations, so the chunked (GEMM) budget applies.
            QVERIFY2(gpu_vs_ref.mean_kl() <= b->max_mean_kl,
                     qPrintable(QStringLiteral("GPU mean KL %1").arg(gpu_vs_ref.mean_kl())));
            QVERIFY2(gpu_vs_ref.top1() >= b->min_top1,
                     qPrintable(QStringLiteral("GPU top-1 %1").arg(gpu_vs_ref.top1())));
        }
    }

    // Larger synthetic shapes (head size 64, several heads, real LoRA widths) in f16.
    void synthetic_shapes_data() {
        QTest::addColumn<QString>("spec");
        for (const char* s : {"v4:2x256:512", "v5:2x256:512", "v6:2x256:512", "v7:4x512:512"}) {
            QTest::newRow(s) << QString::fromLatin1(s);
        }
    }
    void synthetic_shapes() {
        QFETCH(QString, spec);
        REQUIRE_GPU();
        auto parsed = ravel::parse_synthetic_spec(spec.toStdString());
        QVERIFY(parsed.ok());
        ravel::LoadOptions o;
        o.weight_type = ravel::DType::F16;
        auto cpu = ravel::Model::synthetic(*parsed, o);
        o.device = "cuda";
        auto gpu = ravel::Model::synthetic(*parsed, o);
        QVERIFY(cpu.ok() && gpu.ok());
        std::vector<std::int32_t> tokens;
        for (int i = 0; i < 24; ++i) tokens.push_back((i * 37 + 11) % 512);
        auto want = run(*cpu, tokens, 0);
        for (int chunk : {1, 3, 0}) {
            auto got = run(*gpu, tokens, chunk);
            QVERIFY2(got.ok(), got.ok() ? "" : got.message().c_str());
            const Diff d = compare(*got, *want);
            qInfo("chunk %d: max |gpu - cpu| %.3g of scale %.3g", chunk, d.max_abs, d.scale);
            QVERIFY(d.rel() <= tolerance(ravel::DType::F16, chunk));
        }
    }

    // The captured graph runs the very same kernels as eager launches.
    void graph_replay_equals_eager() {
        REQUIRE_GPU();
        for (const char* spec : {"v4:2x256:512", "v6:2x256:512", "v7:4x512:512"}) {
            ravel::LoadOptions o;
            o.weight_type = ravel::DType::F16;
            o.device = "cuda";
            auto m = ravel::Model::synthetic(*ravel::parse_synthetic_spec(spec), o);
            QVERIFY(m.ok());
            ravel::Session graphed(*m);
            std::unique_ptr<ravel::Session> eager;
            {
                EnvGuard g("RAVEL_CUDA_GRAPHS", "0");
                eager = std::make_unique<ravel::Session>(*m);
                QVERIFY(eager->step(5).ok());  // the GPU session reads the setting here
            }
            QVERIFY(graphed.step(5).ok());
            for (int i = 0; i < 8; ++i) {
                auto a = graphed.step(i * 7 + 1);
                auto b = eager->step(i * 7 + 1);
                QVERIFY(a.ok() && b.ok());
                QVERIFY2(std::equal(a->begin(), a->end(), b->begin()), spec);
            }
        }
    }

    void one_token_wkv_equals_sequence_wkv() {
        REQUIRE_GPU();
        for (const char* spec : {"v5:2x256:512", "v6:2x256:512", "v7:4x512:512"}) {
            ravel::LoadOptions o;
            o.device = "cuda";
            auto m = ravel::Model::synthetic(*ravel::parse_synthetic_spec(spec), o);
            QVERIFY(m.ok());
            ravel::Session one(*m);
            std::unique_ptr<ravel::Session> seq;
            {
                EnvGuard g("RAVEL_CUDA_SEQUENCE_WKV", "1");
                seq = std::make_unique<ravel::Session>(*m);
                QVERIFY(seq->step(5).ok());
            }
            QVERIFY(one.step(5).ok());
            for (int i = 0; i < 8; ++i) {
                auto a = one.step(i * 3 + 2);
                auto b = seq->step(i * 3 + 2);
                QVERIFY(a.ok() && b.ok());
                const Diff d = compare(*a, *b);
                QVERIFY2(d.rel() <= 1e-5, spec);
            }
        }
    }

    // The state lives on the device; forks, set_state and restore move it back and forth.
    void fork_and_restore() {
        REQUIRE_GPU();
        ravel::LoadOptions o;
        o.device = "cuda";
        auto m = ravel::Model::synthetic(*ravel::parse_synthetic_spec("v7:2x256:512"), o);
        QVERIFY(m.ok());
        ravel::Session a(*m);
        const std::vector<std::int32_t> prompt = {3, 1, 4, 1, 5, 9, 2, 6};
        QVERIFY(a.feed(prompt).ok());
        const ravel::State saved = a.state();
        const std::vector<float> saved_logits(a.logits().begin(), a.logits().end());

        ravel::Session b(a);  // fork
        auto la = a.step(7);
        QVERIFY(la.ok());
        const std::vector<float> after_a(la->begin(), la->end());
        auto lb = b.step(7);
        QVERIFY(lb.ok());
        QVERIFY(std::equal(after_a.begin(), after_a.end(), lb->begin()));
        QVERIFY(!(a.state() == saved));  // the device state moved on and came back

        ravel::Session c(*m);
        QVERIFY(c.step(100).ok());  // some other history first
        QVERIFY(c.restore(saved, saved_logits, prompt.size()).ok());
        auto lc = c.step(7);
        QVERIFY(lc.ok());
        QVERIFY(std::equal(after_a.begin(), after_a.end(), lc->begin()));
        QVERIFY(c.state() == a.state());

        c.reset();
        QVERIFY(c.state() == ravel::State((*m)->config()));
    }
};

QTEST_GUILESS_MAIN(GpuForward)
#include "test_gpu_forward.moc"
