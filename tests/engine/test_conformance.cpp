// Conformance: every model in ../shared/data/models, loaded from .pth and .safetensors, must
// reproduce the logits and final state of ChatRWKV's reference implementation in step,
// whole-sequence and chunked modes (tolerance and pass rule from each case.json).
#include <unistd.h>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ravel/model.hpp"
#include "ravel/session.hpp"
#include "test_data.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json read_json(const fs::path& p) {
    std::ifstream in(p);
    return json::parse(in);
}

std::vector<std::int32_t> read_tokens(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::int32_t> out;
    long v = 0;
    while (in >> v) out.push_back(static_cast<std::int32_t>(v));
    return out;
}

std::vector<fs::path> model_cases() {
    std::vector<fs::path> out;
    if (!ravel::test::shared_data_present()) return out;
    for (const auto& e : fs::directory_iterator(ravel::test::shared_data_dir() / "models")) {
        if (fs::exists(e.path() / "case.json")) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Pass rule: max |engine - ref| <= atol over all rows, and the argmax agrees wherever the
// reference's top-1 minus top-2 gap exceeds 2 atol. Returns an empty string on success.
QString compare_logits(const float* got, const float* ref, std::size_t rows, std::size_t V,
                       double atol) {
    double worst = 0;
    std::size_t worst_row = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        const float* g = got + r * V;
        const float* e = ref + r * V;
        for (std::size_t i = 0; i < V; ++i) {
            const double d = std::fabs(static_cast<double>(g[i]) - e[i]);
            if (!(d <= worst)) {  // also catches NaN
                worst = std::isnan(d) ? INFINITY : d;
                worst_row = r;
            }
        }
        const auto ref_top = std::max_element(e, e + V) - e;
        float second = -INFINITY;
        for (std::size_t i = 0; i < V; ++i) {
            if (static_cast<std::ptrdiff_t>(i) != ref_top) second = std::max(second, e[i]);
        }
        const auto got_top = std::max_element(g, g + V) - g;
        if (e[ref_top] - second > 2 * atol && got_top != ref_top) {
            return QStringLiteral("row %1: argmax %2, reference %3")
                .arg(r)
                .arg(got_top)
                .arg(ref_top);
        }
    }
    if (worst > atol) {
        return QStringLiteral("max |diff| %1 at row %2 exceeds %3")
            .arg(worst)
            .arg(worst_row)
            .arg(atol);
    }
    return {};
}

}  // namespace

class ConformanceTest : public QObject {
    Q_OBJECT

  private slots:
    void logits_match_reference_data() {
        QTest::addColumn<QString>("case_dir");
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("chunk");  // 0 = whole sequence in one call
        const auto cases = model_cases();
        if (cases.empty()) {
            QTest::newRow("no-data") << QString() << QString() << -1;
            return;
        }
        for (const auto& dir : cases) {
            for (const char* file : {"model.pth", "model.safetensors"}) {
                for (int chunk : {1, 0, 2, 7, 64}) {
                    const QString name =
                        QStringLiteral("%1/%2/%3")
                            .arg(QString::fromStdString(dir.filename().string()))
                            .arg(file)
                            .arg(chunk == 0   ? QStringLiteral("sequence")
                                 : chunk == 1 ? QStringLiteral("step")
                                              : QStringLiteral("chunked:%1").arg(chunk));
                    QTest::newRow(qPrintable(name))
                        << QString::fromStdString(dir.string()) << file << chunk;
                }
            }
        }
    }

    void logits_match_reference() {
        QFETCH(QString, case_dir);
        QFETCH(QString, file);
        QFETCH(int, chunk);
        RAVEL_REQUIRE_SHARED_DATA();
        const fs::path dir = case_dir.toStdString();
        const json c = read_json(dir / "case.json");

        auto model = ravel::Model::load(dir / file.toStdString());
        QVERIFY2(model.ok(), model.ok() ? "" : model.message().c_str());
        const ravel::ModelConfig& cfg = (*model)->config();
        const json& expect = c["config"];
        QCOMPARE(cfg.n_layer, expect["n_layer"].get<int>());
        QCOMPARE(cfg.n_embd, expect["n_embd"].get<int>());
        QCOMPARE(cfg.n_vocab, expect["n_vocab"].get<int>());
        QCOMPARE(cfg.dim_ffn, expect["dim_ffn"].get<int>());
        if (expect.contains("n_head")) {
            QCOMPARE(cfg.n_head, expect["n_head"].get<int>());
            QCOMPARE(cfg.head_size, expect["head_size"].get<int>());
        }
        const std::string version = c["rwkv_version"].get<std::string>();
        const std::string arch(ravel::arch_name(cfg.arch));
        QVERIFY2(version.rfind(arch, 0) == 0, (version + " vs " + arch).c_str());

        const std::size_t V = static_cast<std::size_t>(cfg.n_vocab);
        for (const json& seq : c["sequences"]) {
            const auto tokens = read_tokens(dir / seq["files"]["tokens"].get<std::string>());
            const auto ref =
                ravel::test::read_f32_file(dir / seq["files"]["logits"].get<std::string>());
            QCOMPARE(ref.size(), tokens.size() * V);
            const double atol = seq["tolerance"]["logits_max_abs"].get<double>();

            ravel::Session session(*model);
            std::vector<float> got(tokens.size() * V);
            ravel::FeedOptions options;
            options.chunk_size = chunk == 0 ? static_cast<int>(tokens.size()) : chunk;
            options.all_logits = got;
            auto last = session.feed(tokens, options);
            QVERIFY2(last.ok(), last.ok() ? "" : last.message().c_str());
            const QString verdict = compare_logits(got.data(), ref.data(), tokens.size(), V, atol);
            QVERIFY2(verdict.isEmpty(),
                     qPrintable(QString::fromStdString(seq["name"].get<std::string>()) + ": " +
                                verdict));
            QCOMPARE(session.tokens_processed(), tokens.size());

            // Final state, tensor by tensor, with atol 1e-4 * max(1, max |ref|).
            const auto ref_state =
                ravel::test::read_f32_file(dir / seq["files"]["state"].get<std::string>());
            const auto values = session.state().values();
            QCOMPARE(values.size(), ref_state.size());
            for (const json& slice : seq["final_state"]["layout"]) {
                std::size_t n = 1;
                for (const auto& d : slice["shape"]) n *= d.get<std::size_t>();
                const std::size_t off = slice["offset"].get<std::size_t>();
                float ref_max = 0;
                for (std::size_t i = 0; i < n; ++i)
                    ref_max = std::max(ref_max, std::fabs(ref_state[off + i]));
                const double tol = 1e-4 * std::max(1.0f, ref_max);
                for (std::size_t i = 0; i < n; ++i) {
                    const double d =
                        std::fabs(static_cast<double>(values[off + i]) - ref_state[off + i]);
                    if (!(d <= tol)) {
                        QFAIL(qPrintable(
                            QStringLiteral("%1 state %2[%3]: %4 vs reference %5")
                                .arg(QString::fromStdString(seq["name"].get<std::string>()))
                                .arg(QString::fromStdString(slice["name"].get<std::string>()))
                                .arg(i)
                                .arg(values[off + i])
                                .arg(ref_state[off + i])));
                    }
                }
            }
        }
    }

    // rwkv.cpp's own expected logits are an independent second opinion for two tiny models.
    void rwkvcpp_cross_check() {
        RAVEL_REQUIRE_SHARED_DATA();
        const fs::path root = ravel::test::shared_data_dir() / "models";
        const std::pair<const char*, const char*> pairs[] = {
            {"tiny-4v0-660K", "expected-logits-4v0-660K.bin"},
            {"tiny-7v0-834K", "expected-logits-7v0-834K.bin"},
        };
        for (const auto& [model_dir, expected] : pairs) {
            auto model = ravel::Model::load(root / model_dir / "model.safetensors");
            QVERIFY2(model.ok(), model.ok() ? "" : model.message().c_str());
            ravel::Session session(*model);
            const std::vector<std::int32_t> prompt = {34, 105, 110};  // "in
            auto logits = session.feed(prompt);
            QVERIFY(logits.ok());
            const auto ref = ravel::test::read_f32_file(root / "rwkvcpp-expected" / expected);
            QCOMPARE(ref.size(), logits->size());
            double worst = 0;
            for (std::size_t i = 0; i < ref.size(); ++i)
                worst = std::max(worst, std::fabs(double((*logits)[i]) - ref[i]));
            QVERIFY2(worst <= 1e-5,
                     qPrintable(QStringLiteral("%1: max |diff| %2").arg(model_dir).arg(worst)));
        }
    }

    // Stepping a forked session must not disturb the original: State is a value.
    void forking_copies_the_state() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto model = ravel::Model::load(ravel::test::shared_data_dir() / "models" /
                                        "random-v7.0-L3-D128-H2x64-V1000" / "model.safetensors");
        QVERIFY(model.ok());
        ravel::Session a(*model);
        QVERIFY(a.feed(std::vector<std::int32_t>{1, 2, 3}).ok());
        ravel::Session b = a;
        auto la = a.step(7);
        QVERIFY(la.ok());
        const std::vector<float> after_a(la->begin(), la->end());
        QVERIFY(b.step(9).ok());
        ravel::Session c = b;  // b has diverged; a must be unaffected
        QVERIFY(std::equal(after_a.begin(), after_a.end(), a.logits().begin()));
        QVERIFY(!(a.state() == b.state()));
    }

    // A checkpoint missing one layer's tensors must not load as a smaller model: the layer
    // count stops at the first gap, and the tensors past it say a layer was lost.
    void a_missing_layer_is_an_error() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto bytes =
            ravel::test::read_file_bytes(ravel::test::shared_data_dir() / "models" /
                                         "random-v7.0-L3-D128-H2x64-V1000" / "model.safetensors");
        const std::string name = "\"blocks.1.ln1.weight\"";
        auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
        QVERIFY(at != bytes.end());
        *(at + static_cast<std::ptrdiff_t>(name.size()) - 2) = 'X';  // same length, new name
        const auto path = std::filesystem::temp_directory_path() /
                          ("ravel-missing-layer-" + std::to_string(::getpid()) + ".safetensors");
        {
            std::ofstream out(path, std::ios::binary);
            out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        }
        auto model = ravel::Model::load(path);
        std::filesystem::remove(path);
        QVERIFY(!model.ok());
        QVERIFY2(model.message().find("'blocks.1.ln1.weight' is missing") != std::string::npos,
                 model.message().c_str());
    }

    void rejects_out_of_range_tokens() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto model = ravel::Model::load(ravel::test::shared_data_dir() / "models" /
                                        "tiny-5v2-730K" / "model.safetensors");
        QVERIFY(model.ok());
        ravel::Session s(*model);
        auto r = s.step(256);
        QVERIFY(!r.ok());
        QVERIFY(r.message().find("outside the model's vocabulary") != std::string::npos);
        QCOMPARE(s.tokens_processed(), 0u);
    }
};

QTEST_APPLESS_MAIN(ConformanceTest)
#include "test_conformance.moc"
