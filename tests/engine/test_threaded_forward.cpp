// The forward pass on several threads against the same pass on one, for every version, in
// one-token and sequence mode, at widths where the products really are split (grouped decode
// products, the threaded GEMM, heads over threads). The split must not change the arithmetic
// of any row; only an activation's vector-or-scalar path may move with a grain's start.
#include <QtTest>
#include <cmath>

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
        ravel::SyntheticSpec spec;
        spec.arch = static_cast<ravel::Arch>(arch);
        spec.n_layer = 2;
        spec.n_embd = 256;
        spec.n_vocab = 512;
        spec.head_size = 64;
        spec.seed = 7;
        ravel::LoadOptions lo;
        lo.weight_type = static_cast<ravel::DType>(dtype);
        auto model = ravel::Model::synthetic(spec, lo);
        QVERIFY2(model.ok(), model.ok() ? "" : model.error().message.c_str());
        std::vector<std::int32_t> tokens;
        for (int i = 0; i < 48; ++i) tokens.push_back((i * 37 + 11) % spec.n_vocab);

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
};

QTEST_GUILESS_MAIN(ThreadedForwardTest)
#include "test_threaded_forward.moc"
