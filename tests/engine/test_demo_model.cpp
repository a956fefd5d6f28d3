// The bundled demo model (resources/models), run through the real engine:
//  * its logits agree with the training program's own PyTorch forward pass
//    (resources/models/demo-crosscheck.json, written by tools/train-demo-model/train.py), a
//    cross-check of two independent RWKV-7 implementations;
//  * with greedy decoding it answers at least 90% of a held-out set of questions
//    (resources/models/demo-heldout.json) that never occur in its training corpus.
// Tokens are bytes: token id = byte value.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ravel/model.hpp"
#include "ravel/session.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kModelFile = "ravel-demo-rwkv7.pth";
constexpr double kRequiredAccuracy = 0.90;
constexpr std::size_t kMaxReplyBytes = 120;

fs::path models_dir() {
    return fs::path(RAVEL_SOURCE_DIR) / "resources" / "models";
}

json read_json(const fs::path& p) {
    std::ifstream in(p);
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

std::vector<std::int32_t> byte_tokens(const std::string& text) {
    std::vector<std::int32_t> out;
    out.reserve(text.size());
    for (unsigned char c : text) out.push_back(c);
    return out;
}

// Escapes control and non-ASCII bytes so a wrong reply prints legibly.
std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

std::int32_t argmax(std::span<const float> logits) {
    return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) -
                                     logits.begin());
}

// Largest |a - b| over a row; NaN counts as infinite.
double max_abs_diff(const float* a, const json& b, std::size_t n) {
    double worst = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double d = std::fabs(static_cast<double>(a[i]) - b[i].get<double>());
        if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
    }
    return worst;
}

}  // namespace

class DemoModelTest : public QObject {
    Q_OBJECT

    // As the app loads it: weights kept as the file stores them (f16).
    std::shared_ptr<const ravel::Model> model_;
    // With f32 matrices, as the training program computes (its ln0-folded embedding unrounded).
    std::shared_ptr<const ravel::Model> f32_model_;

  private slots:
    void initTestCase() {
        auto model = ravel::Model::load(models_dir() / kModelFile);
        QVERIFY2(model.ok(), model.ok() ? "" : model.message().c_str());
        model_ = *model;
        QCOMPARE(model_->weight_type(), ravel::DType::F16);
        ravel::LoadOptions f32;
        f32.weight_type = ravel::DType::F32;
        auto exact = ravel::Model::load(models_dir() / kModelFile, f32);
        QVERIFY2(exact.ok(), exact.ok() ? "" : exact.message().c_str());
        f32_model_ = *exact;
    }

    void is_byte_level_rwkv7() {
        const auto& cfg = model_->config();
        QCOMPARE(cfg.arch, ravel::Arch::V7);
        QCOMPARE(cfg.n_vocab, 256);
        QVERIFY(cfg.n_layer >= 1);
        QVERIFY(cfg.head_size > 0);
    }

    // Whole-sequence feed and one-token steps must both reproduce the trainer's logits.
    void logits_match_training_program_data() {
        QTest::addColumn<int>("chunk");  // 0 = one token at a time with step()
        QTest::newRow("step") << 0;
        QTest::newRow("sequence") << 4096;
        QTest::newRow("chunked:5") << 5;
    }
    void logits_match_training_program() {
        QFETCH(int, chunk);
        const json check = read_json(models_dir() / "demo-crosscheck.json");
        QVERIFY2(check.is_object() && check.contains("sequences"),
                 "demo-crosscheck.json unreadable");
        QCOMPARE(check["model"].get<std::string>(), std::string(kModelFile));
        const double atol = check["tolerance"].get<double>();
        QVERIFY(atol > 0 && atol <= 1e-3);
        const std::size_t V = static_cast<std::size_t>(f32_model_->config().n_vocab);
        QVERIFY(check["sequences"].size() >= 3);

        double worst = 0;
        for (const json& seq : check["sequences"]) {
            const auto tokens = seq["tokens"].get<std::vector<std::int32_t>>();
            const std::size_t first = seq["first_row"].get<std::size_t>();
            const json& rows = seq["logits"];
            QCOMPARE(first + rows.size(), tokens.size());

            std::vector<float> got(tokens.size() * V);
            ravel::Session session(f32_model_);
            if (chunk == 0) {
                for (std::size_t t = 0; t < tokens.size(); ++t) {
                    auto logits = session.step(tokens[t]);
                    QVERIFY2(logits.ok(), logits.ok() ? "" : logits.message().c_str());
                    QCOMPARE(logits->size(), V);
                    std::copy(logits->begin(), logits->end(), got.begin() + t * V);
                }
            } else {
                ravel::FeedOptions options;
                options.chunk_size = chunk;
                options.all_logits = got;
                auto last = session.feed(tokens, options);
                QVERIFY2(last.ok(), last.ok() ? "" : last.message().c_str());
            }
            for (std::size_t r = 0; r < rows.size(); ++r) {
                const float* row = got.data() + (first + r) * V;
                QCOMPARE(rows[r].size(), V);
                const double diff = max_abs_diff(row, rows[r], V);
                worst = std::max(worst, diff);
                QVERIFY2(
                    diff <= atol,
                    qPrintable(QStringLiteral("sequence %1 row %2: max |diff| %3 > %4")
                                   .arg(QString::fromStdString(seq["text_hex"].get<std::string>()))
                                   .arg(first + r)
                                   .arg(diff)
                                   .arg(atol)));
                // Argmax must agree unless the reference's top two are within 2 atol.
                std::vector<double> ref = rows[r].get<std::vector<double>>();
                const auto top = std::max_element(ref.begin(), ref.end()) - ref.begin();
                QCOMPARE(static_cast<std::int32_t>(top), seq["argmax"][r].get<std::int32_t>());
                const double best = ref[static_cast<std::size_t>(top)];
                ref[static_cast<std::size_t>(top)] = -INFINITY;
                if (best - *std::max_element(ref.begin(), ref.end()) > 2 * atol) {
                    QCOMPARE(argmax({row, V}), static_cast<std::int32_t>(top));
                }
            }
        }
        qInfo("max |engine - training program| = %g", worst);
    }

    // Greedy decoding through ravel::Session, byte by byte, until a blank line.
    void answers_heldout_questions() {
        const json heldout = read_json(models_dir() / "demo-heldout.json");
        QVERIFY2(heldout.is_object() && heldout.contains("items"), "demo-heldout.json unreadable");
        const json& items = heldout["items"];
        QVERIFY(items.size() >= 100);

        std::map<std::string, std::pair<int, int>> by_kind;  // kind -> (correct, total)
        int correct = 0;
        int shown = 0;
        for (const json& item : items) {
            const std::string question = item["question"].get<std::string>();
            const std::string expect = item["expect"].get<std::string>();
            ravel::Session session(model_);
            auto logits = session.feed(byte_tokens("User: " + question + "\n\nAssistant:"));
            QVERIFY2(logits.ok(), logits.ok() ? "" : logits.message().c_str());
            std::string reply;
            while (reply.size() < kMaxReplyBytes) {
                const std::int32_t token = argmax(*logits);
                reply.push_back(static_cast<char>(token));
                if (reply.size() >= 2 && reply.compare(reply.size() - 2, 2, "\n\n") == 0) break;
                logits = session.step(token);
                QVERIFY2(logits.ok(), logits.ok() ? "" : logits.message().c_str());
            }
            const bool ok = reply.find(expect) != std::string::npos;
            auto& tally = by_kind[item["kind"].get<std::string>()];
            tally.first += ok;
            tally.second += 1;
            correct += ok;
            if (!ok && shown++ < 10) {
                qInfo("wrong: %s -> %s (expected %s)", question.c_str(), printable(reply).c_str(),
                      expect.c_str());
            }
        }
        for (const auto& [kind, tally] : by_kind) {
            qInfo("%s: %d / %d", kind.c_str(), tally.first, tally.second);
        }
        const double accuracy = static_cast<double>(correct) / static_cast<double>(items.size());
        qInfo("held-out accuracy %.3f (%d / %zu)", accuracy, correct, items.size());
        QVERIFY2(accuracy >= kRequiredAccuracy,
                 qPrintable(
                     QStringLiteral("accuracy %1 below %2").arg(accuracy).arg(kRequiredAccuracy)));
    }

    // "What is 2+3?" is the question the GUI test and the README use.
    void answers_the_readme_question() {
        ravel::Session session(model_);
        auto logits = session.feed(byte_tokens("User: What is 2+3?\n\nAssistant:"));
        QVERIFY(logits.ok());
        std::string reply;
        while (reply.size() < kMaxReplyBytes && reply.find("\n\n") == std::string::npos) {
            const std::int32_t token = argmax(*logits);
            reply.push_back(static_cast<char>(token));
            logits = session.step(token);
            QVERIFY(logits.ok());
        }
        QVERIFY2(reply.find("= 5.") != std::string::npos, printable(reply).c_str());
    }
};

QTEST_GUILESS_MAIN(DemoModelTest)
#include "test_demo_model.moc"
