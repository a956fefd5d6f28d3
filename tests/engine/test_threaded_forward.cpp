// The forward pass on several threads against the same pass on one, for every version, in
// one-token and sequence mode, at widths where the products really are split (grouped decode
// products, the threaded GEMM, heads over threads). The split must not change the arithmetic
// of any row; only an activation's vector-or-scalar path may move with a grain's start.
#include <QtTest>
#include <cmath>
#include <tuple>

#include "ravel/model.hpp"
#include "ravel/session.hpp"

namespace {

// Every logit after each of `tokens`, fed one at a time (chunk 0) or in chunks.
std::vector<float> run(const std::shared_ptr<const ravel::Model>& model, int threads, int chunk,
                       const std::vector<std::int32_t>& tokens) {
    ravel::SessionOptions so;
    so.threads = threads;
    ravel::Session session(model, so);
    const std::size_t V = static_cast<std::size_t>(model->config().n_vocab);
    std::vector<float> out(tokens.size() * V, NAN);
    if (chunk == 0) {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            auto logits = session.step(tokens[i]);
            if (!logits) return {};
            std::copy(logits->begin(), logits->end(), out.begin() + i * V);
        }
    } else {
        ravel::FeedOptions fo;
        fo.chunk_size = chunk;
        fo.all_logits = out;
        if (!session.feed(tokens, fo)) return {};
    }
    return out;
}

constexpr int kVocab = 512;

// A 2-layer synthetic model with heads of 64.
ravel::Result<std::shared_ptr<const ravel::Model>> small_model(ravel::Arch arch, int embd,
                                                               int dtype, std::uint64_t seed) {
    ravel::SyntheticSpec spec;
    spec.arch = arch;
    spec.n_layer = 2;
    spec.n_embd = embd;
    spec.n_vocab = kVocab;
    spec.head_size = 64;
    spec.seed = seed;
    ravel::LoadOptions lo;
    lo.weight_type = static_cast<ravel::DType>(dtype);
    return ravel::Model::synthetic(spec, lo);
}

}  // namespace

class ThreadedForwardTest : public QObject {
    Q_OBJECT

  private slots:
    void threads_do_not_change_logits_data() {
        QTest::addColumn<int>("arch");
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("chunk");
        const std::pair<ravel::Arch, const char*> archs[] = {{ravel::Arch::V4, "v4"},
                                                             {ravel::Arch::V5_2, "v5.2"},
                                                             {ravel::Arch::V6, "v6"},
                                                             {ravel::Arch::V7, "v7"}};
        for (auto [arch, name] : archs) {
            for (auto type : {ravel::DType::F32, ravel::DType::F16, ravel::DType::Q4_0}) {
                for (int chunk : {0, 24}) {
                    const std::string row = std::string(name) + " " +
                                            std::string(ravel::dtype_name(type)) +
                                            (chunk == 0 ? " one token" : " chunks of 24");
                    QTest::newRow(row.c_str())
                        << static_cast<int>(arch) << static_cast<int>(type) << chunk;
                }
            }
        }
    }

    void threads_do_not_change_logits() {
        QFETCH(int, arch);
        QFETCH(int, dtype);
        QFETCH(int, chunk);
        auto model = small_model(static_cast<ravel::Arch>(arch), 256, dtype, 7);
        QVERIFY2(model.ok(), model.ok() ? "" : model.error().message.c_str());
        std::vector<std::int32_t> tokens;
        for (int i = 0; i < 48; ++i) tokens.push_back((i * 37 + 11) % kVocab);

        const auto one = run(*model, 1, chunk, tokens);
        QVERIFY(!one.empty());
        for (int threads : {2, 3}) {
            const auto many = run(*model, threads, chunk, tokens);
            QCOMPARE(many.size(), one.size());
            double worst = 0;
            for (std::size_t i = 0; i < one.size(); ++i) {
                QVERIFY(std::isfinite(many[i]));
                worst = std::max(worst, std::fabs(static_cast<double>(many[i]) - one[i]) /
                                            std::max(1.0, std::fabs(static_cast<double>(one[i]))));
            }
            QVERIFY2(
                worst <= 1e-5,
                qPrintable(QString("%1 threads: relative difference %2").arg(threads).arg(worst)));
        }
    }

    // Decoding RWKV-5.2, 6 and 7 runs the projections as one group of grains, then a region
    // in which each head does its element-wise work, its state update and (5.2/6) its group
    // norm and gate. A token's logits must match sequence mode's, which runs whole products
    // through the GEMM and the heads over all tokens at once. Several widths and types (the
    // group's grains split the products differently), on 1 and 2 threads.
    void decode_matches_sequence_mode_data() {
        QTest::addColumn<int>("arch");
        QTest::addColumn<int>("embd");
        QTest::addColumn<int>("dtype");
        const std::pair<ravel::Arch, const char*> archs[] = {
            {ravel::Arch::V5_2, "v5.2"}, {ravel::Arch::V6, "v6"}, {ravel::Arch::V7, "v7"}};
        const std::tuple<int, ravel::DType, const char*> cases[] = {
            {256, ravel::DType::F32, "256 f32"},
            {512, ravel::DType::Q4_0, "512 q4_0"},
            {768, ravel::DType::Q4_0, "768 q4_0"},
            {512, ravel::DType::F32, "512 f32"},
            {768, ravel::DType::F16, "768 f16"}};
        for (auto [arch, name] : archs) {
            for (auto [embd, type, what] : cases) {
                const std::string row = std::string(name) + " " + what;
                QTest::newRow(row.c_str())
                    << static_cast<int>(arch) << embd << static_cast<int>(type);
            }
        }
    }

    void decode_matches_sequence_mode() {
        QFETCH(int, arch);
        QFETCH(int, embd);
        QFETCH(int, dtype);
        auto model = small_model(static_cast<ravel::Arch>(arch), embd, dtype, 11);
        QVERIFY2(model.ok(), model.ok() ? "" : model.error().message.c_str());
        std::vector<std::int32_t> tokens;
        for (int i = 0; i < 32; ++i) tokens.push_back((i * 53 + 5) % kVocab);
        const auto sequence = run(*model, 2, 32, tokens);
        QVERIFY(!sequence.empty());
        for (int threads : {1, 2}) {
            const auto steps = run(*model, threads, 0, tokens);
            QCOMPARE(steps.size(), sequence.size());
            double worst = 0, spread = 0;
            for (std::size_t i = 0; i < steps.size(); ++i) {
                QVERIFY(std::isfinite(steps[i]));
                worst = std::max(worst, std::fabs(static_cast<double>(steps[i]) - sequence[i]));
                spread = std::max(spread, std::fabs(static_cast<double>(sequence[i])));
            }
            // Float weights: sums in another order. q4_0 quantizes each product's activations
            // to 8 bits in both modes, so a rounding difference upstream can move an activation
            // by one step (measured: 0.8% of the largest logit).
            const double tolerance = dtype == static_cast<int>(ravel::DType::Q4_0) ? 2e-2 : 1e-4;
            QVERIFY2(worst <= tolerance * std::max(1.0, spread),
                     qPrintable(QString("%1 threads: largest difference %2 against logits up to %3")
                                    .arg(threads)
                                    .arg(worst)
                                    .arg(spread)));
        }
    }
};

QTEST_GUILESS_MAIN(ThreadedForwardTest)
#include "test_threaded_forward.moc"
