// Reduced-precision weights against ChatRWKV's fp32 reference logits on every conformance
// model: mean KL(reference || engine) per token and top-1 agreement, with a bound per type.
// The bounds sit a few times above what correct kernels give, and well below what a broken
// kernel (a wrong scale, a swapped nibble) produces.
#include <QtTest>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "logit_agreement.hpp"
#include "ravel/model.hpp"
#include "ravel/session.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;

using ravel::test::Bound;
using ravel::test::kBounds;

class QuantizedAccuracyTest : public QObject {
    Q_OBJECT

  private slots:
    void quantized_logits_stay_close_data() {
        QTest::addColumn<QString>("case_dir");
        QTest::addColumn<int>("bound");
        QTest::addColumn<int>("chunk");
        if (!ravel::test::shared_data_present()) {
            QTest::newRow("no-data") << QString() << 0 << 16;
            return;
        }
        std::vector<fs::path> dirs;
        for (const auto& e : fs::directory_iterator(ravel::test::shared_data_dir() / "models")) {
            if (fs::exists(e.path() / "case.json")) dirs.push_back(e.path());
        }
        std::sort(dirs.begin(), dirs.end());
        for (const auto& d : dirs) {
            for (int b = 0; b < int(std::size(kBounds)); ++b) {
                // Chunks of 16 tokens run the GEMM; one token at a time runs the decode kernels,
                // which for q8_0 / q4_0 also quantize the activations to int8.
                for (int chunk : {16, 1}) {
                    QTest::addRow("%s/%s/%s", d.filename().c_str(),
                                  ravel::dtype_name(kBounds[b].type).data(),
                                  chunk == 1 ? "decode" : "chunked")
                        << QString::fromStdString(d.string()) << b << chunk;
                }
            }
        }
    }

    void quantized_logits_stay_close() {
        QFETCH(QString, case_dir);
        QFETCH(int, bound);
        QFETCH(int, chunk);
        RAVEL_REQUIRE_SHARED_DATA();
        const Bound& b = kBounds[bound];
        const fs::path dir = case_dir.toStdString();
        std::ifstream in(dir / "case.json");
        const auto c = nlohmann::json::parse(in);
        ravel::LoadOptions options;
        options.weight_type = b.type;
        auto model = ravel::Model::load(dir / "model.safetensors", options);
        QVERIFY2(model.ok(), model.ok() ? "" : model.message().c_str());
        const std::size_t V = static_cast<std::size_t>((*model)->config().n_vocab);

        ravel::test::LogitAgreement agreement;
        for (const auto& seq : c["sequences"]) {
            std::ifstream tf(dir / seq["files"]["tokens"].get<std::string>());
            std::vector<std::int32_t> tokens;
            for (long v; tf >> v;) tokens.push_back(static_cast<std::int32_t>(v));
            const auto ref =
                ravel::test::read_f32_file(dir / seq["files"]["logits"].get<std::string>());
            std::vector<float> got(tokens.size() * V);
            ravel::Session s(*model);
            ravel::FeedOptions fo;
            fo.chunk_size = chunk;
            fo.all_logits = got;
            QVERIFY(s.feed(tokens, fo).ok());
            agreement.add(ref.data(), got.data(), tokens.size(), V);
        }
        const double mean_kl = agreement.mean_kl();
        const double top1 = agreement.top1();
        const double worst_abs = agreement.max_abs();
        qInfo("%s %s %s: mean KL %.3g, top-1 %.4f, max |diff| %.3g",
              fs::path(dir).filename().c_str(), ravel::dtype_name(b.type).data(),
              chunk == 1 ? "decode" : "chunked", mean_kl, top1, worst_abs);
        const double max_kl = chunk == 1 ? b.max_mean_kl_decode : b.max_mean_kl;
        const double min_top1 = chunk == 1 ? b.min_top1_decode : b.min_top1;
        QVERIFY2(mean_kl <= max_kl, qPrintable(QStringLiteral("mean KL %1").arg(mean_kl)));
        QVERIFY2(top1 >= min_top1, qPrintable(QStringLiteral("top-1 %1").arg(top1)));
        if (b.max_abs > 0)
            QVERIFY2(worst_abs <= b.max_abs,
                     qPrintable(QStringLiteral("max |diff| %1").arg(worst_abs)));
    }
};

QTEST_APPLESS_MAIN(QuantizedAccuracyTest)
#include "test_quantized_accuracy.moc"
