// The ravel-cli contract (DESIGN.md section 7) as a script would use it: info --json, eval in
// every mode with --all and the state files, bench --json, and errors with exit codes.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>

#include <sys/resource.h>
#include <algorithm>
#include <cmath>
#include <utility>

#include "test_data.hpp"

namespace fs = std::filesystem;

namespace {

struct Run {
    int code = -1;
    QByteArray out, err;
};

Run run_cli(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(RAVEL_CLI_PATH), args);
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

QString model_dir(const char* name) {
    return QString::fromStdString((ravel::test::shared_data_dir() / "models" / name).string());
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, double(std::fabs(a[i] - b[i])));
    return worst;
}

}  // namespace

class CliEvalTest : public QObject {
    Q_OBJECT

  private slots:
    void info_reports_the_architecture() {
        RAVEL_REQUIRE_SHARED_DATA();
        const Run r =
            run_cli({"info", "--model", model_dir("random-v6.0-L2-D128-H2x64-V1000") + "/model.pth",
                     "--json"});
        QCOMPARE(r.code, 0);
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["rwkv_version"].toString(), QStringLiteral("6"));
        QCOMPARE(j["n_layer"].toInt(), 2);
        QCOMPARE(j["n_embd"].toInt(), 128);
        QCOMPARE(j["n_head"].toInt(), 2);
        QCOMPARE(j["head_size"].toInt(), 64);
        QCOMPARE(j["n_vocab"].toInt(), 1000);
        QCOMPARE(j["lora_dims"].toObject()["mix"].toInt(), 32);
        QCOMPARE(j["lora_dims"].toObject()["decay"].toInt(), 64);
        QCOMPARE(j["format"].toString(), QStringLiteral("pth"));
    }

    void eval_modes_match_reference_logits_and_state() {
        RAVEL_REQUIRE_SHARED_DATA();
        QTemporaryDir tmp;
        const QString dir = model_dir("random-v7.0-L3-D128-H2x64-V1000");
        const auto ref =
            ravel::test::read_f32_file(fs::path(dir.toStdString()) / "rand48.logits.f32");
        const auto ref_state =
            ravel::test::read_f32_file(fs::path(dir.toStdString()) / "rand48.state.f32");
        for (const QString mode : {"step", "sequence", "chunked:7"}) {
            const QString out = tmp.filePath("logits.f32"), state = tmp.filePath("state.f32");
            const Run r = run_cli({"eval", "--model", dir + "/model.safetensors", "--tokens-file",
                                   dir + "/rand48.tokens.txt", "--mode", mode, "--all", "--out",
                                   out, "--state-out", state});
            QVERIFY2(r.code == 0, r.err.constData());
            const auto got = ravel::test::read_f32_file(out.toStdString());
            QCOMPARE(got.size(), ref.size());
            QVERIFY2(max_abs_diff(got, ref) <= 1e-4, qPrintable(mode));
            const auto got_state = ravel::test::read_f32_file(state.toStdString());
            QCOMPARE(got_state.size(), ref_state.size());
            QVERIFY(max_abs_diff(got_state, ref_state) <= 1e-3);
        }
    }

    // Splitting a sequence at token 20 with --state-out / --state-in gives the same last row.
    void state_files_continue_a_sequence() {
        RAVEL_REQUIRE_SHARED_DATA();
        QTemporaryDir tmp;
        const QString dir = model_dir("random-v5.2-L2-D128-H2x64-V1000");
        std::vector<QString> ids;
        QFile f(dir + "/rand48.tokens.txt");
        QVERIFY(f.open(QIODevice::ReadOnly));
        for (const auto& line : f.readAll().split('\n')) {
            if (!line.trimmed().isEmpty()) ids.push_back(QString::fromUtf8(line.trimmed()));
        }
        QStringList first, second;
        for (std::size_t i = 0; i < ids.size(); ++i) (i < 20 ? first : second) << ids[i];
        const QString state = tmp.filePath("s.f32"), out = tmp.filePath("l.f32");
        QCOMPARE(run_cli({"eval", "--model", dir + "/model.pth", "--tokens", first.join(','),
                          "--out", out, "--state-out", state})
                     .code,
                 0);
        QCOMPARE(run_cli({"eval", "--model", dir + "/model.pth", "--tokens", second.join(','),
                          "--out", out, "--state-in", state, "--mode", "step"})
                     .code,
                 0);
        const auto got = ravel::test::read_f32_file(out.toStdString());
        const auto ref =
            ravel::test::read_f32_file(fs::path(dir.toStdString()) / "rand48.logits.f32");
        QCOMPARE(got.size(), std::size_t(1000));
        const std::vector<float> last(ref.end() - 1000, ref.end());
        QVERIFY(max_abs_diff(got, last) <= 1e-4);
    }

    // A write that fails half-way (here the file size limit, standing in for a full disk)
    // leaves the file that was there as it was, instead of truncated.
    void a_failed_write_keeps_the_old_file() {
        RAVEL_REQUIRE_SHARED_DATA();
        QTemporaryDir tmp;
        const QString dir = model_dir("random-v5.2-L2-D128-H2x64-V1000");
        const QString out = tmp.filePath("l.f32");
        const QStringList args = {
            "eval", "--model", dir + "/model.pth", "--tokens", "1,2,3", "--all", "--out", out};
        QCOMPARE(run_cli(args).code, 0);
        QFile good(out);
        QVERIFY(good.open(QIODevice::ReadOnly));
        const QByteArray before = good.readAll();
        good.close();
        QCOMPARE(before.size(), 3 * 1000 * 4);

        QProcess p;
        p.setChildProcessModifier([] {
            const rlimit limit{4096, 4096};
            setrlimit(RLIMIT_FSIZE, &limit);
            signal(SIGXFSZ, SIG_IGN);
        });
        p.start(QStringLiteral(RAVEL_CLI_PATH), QStringList(args) << "--mode"
                                                                  << "step");
        QVERIFY(p.waitForFinished(300000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 1);
        QVERIFY(good.open(QIODevice::ReadOnly));
        QCOMPARE(good.readAll().size(), before.size());
        good.seek(0);
        QCOMPARE(good.readAll(), before);
        QVERIFY(p.readAllStandardError().contains("failed"));
        QCOMPARE(QDir(tmp.path()).entryList(QDir::Files), QStringList({"l.f32"}));
    }

    void errors_are_clear_and_nonzero() {
        QTemporaryDir tmp;
        QFile bad(tmp.filePath("bad.pth"));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("this is not a model");
        bad.close();
        Run r = run_cli(
            {"eval", "--model", bad.fileName(), "--tokens", "1,2", "--out", tmp.filePath("x")});
        QVERIFY(r.code != 0);
        QVERIFY(r.err.contains("bad.pth"));
        r = run_cli(
            {"eval", "--model", bad.fileName(), "--tokens", "1,x", "--out", tmp.filePath("x")});
        QVERIFY(r.code != 0);
        QVERIFY(r.err.contains("not a token id"));
        r = run_cli({"info", "--model-typo", "x"});
        QVERIFY(r.code != 0);
        QVERIFY(r.err.contains("unknown option --model-typo"));
        if (ravel::test::shared_data_present()) {
            r = run_cli({"eval", "--model", model_dir("tiny-4v0-660K") + "/model.pth", "--tokens",
                         "300", "--out", tmp.filePath("x")});
            QVERIFY(r.code != 0);
            QVERIFY(r.err.contains("outside the model's vocabulary"));
        }
    }

    void bench_reports_every_documented_figure() {
        const Run r = run_cli({"bench", "--synthetic", "v7:2x64:1000", "--prompt", "16", "--gen",
                               "4", "--threads", "2", "--dtype", "q8_0", "--json"});
        QVERIFY2(r.code == 0, r.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        for (const char* key : {"decode_ms_per_token", "prompt_tokens_per_s", "load_ms",
                                "peak_rss_bytes", "weight_bytes_per_token", "read_bandwidth_gb_s",
                                "fma_gflop_s", "decode_bandwidth_fraction", "sample_ms_per_token",
                                "chat_ms_per_token", "decode_ms_per_token_median",
                                "decode_ms_per_token_min", "decode_bandwidth_fraction_best",
                                "prompt_tokens_per_s_best", "prompt_fma_fraction_best"}) {
            QVERIFY2(j.contains(key), key);
            QVERIFY2(j[key].toDouble() > 0, key);
        }
        QCOMPARE(j["dtype"].toString(), QStringLiteral("q8_0"));
        QCOMPARE(j["threads"].toInt(), 2);
        // The CPU's limits are probed before the prompt and after decoding; the better of each
        // pair is the one the fractions are taken against.
        for (const auto& [pair_key, best_key] :
             {std::pair{"read_bandwidth_probes_gb_s", "read_bandwidth_gb_s"},
              std::pair{"fma_probes_gflop_s", "fma_gflop_s"}}) {
            const QJsonArray probes = j[pair_key].toArray();
            QCOMPARE(probes.size(), 2);
            QVERIFY2(probes[0].toDouble() > 0 && probes[1].toDouble() > 0, pair_key);
            QCOMPARE(j[best_key].toDouble(), std::max(probes[0].toDouble(), probes[1].toDouble()));
        }
        // The mean and the median are taken over the same tokens (prompt runs) as the fastest,
        // and the best fractions are taken against the fastest token and the best run.
        QCOMPARE(j["prompt_runs"].toInt(), 3);
        const double fastest = j["decode_ms_per_token_min"].toDouble();
        QVERIFY(fastest <= j["decode_ms_per_token_median"].toDouble());
        QVERIFY(fastest <= j["decode_ms_per_token"].toDouble());
        QVERIFY(j["prompt_tokens_per_s_best"].toDouble() >= j["prompt_tokens_per_s"].toDouble());
        QCOMPARE(j["decode_bandwidth_fraction_best"].toDouble(),
                 j["decode_bandwidth_limit_ms"].toDouble() / fastest);
        QCOMPARE(j["prompt_fma_fraction_best"].toDouble() / j["prompt_fma_fraction"].toDouble(),
                 j["prompt_tokens_per_s_best"].toDouble() / j["prompt_tokens_per_s"].toDouble());
        // Tokens paired with read passes: a median fraction between its quartiles, and passes
        // that read at a positive rate.
        const QJsonArray quartiles = j["decode_paired_fraction_quartiles"].toArray();
        QCOMPARE(quartiles.size(), 2);
        const double paired = j["decode_paired_fraction"].toDouble();
        QVERIFY(paired > 0);
        QVERIFY(quartiles[0].toDouble() <= paired && paired <= quartiles[1].toDouble());
        QVERIFY(j["decode_paired_read_gb_s"].toDouble() > 0);
        const double limit_ms = j["weight_bytes_per_token"].toDouble() /
                                (j["read_bandwidth_gb_s"].toDouble() * 1e9) * 1e3;
        QVERIFY(std::fabs(j["decode_bandwidth_limit_ms"].toDouble() - limit_ms) <= 1e-9 * limit_ms);
        // The last-level cache, where the kernel describes this machine's caches, and the note
        // exactly when a token's weights (here a few hundred KiB) fit in it.
        if (QFile::exists("/sys/devices/system/cpu/cpu0/cache/index0/size")) {
            QVERIFY(j.contains("last_level_cache_bytes"));
        }
        if (j.contains("last_level_cache_bytes")) {
            const double llc = j["last_level_cache_bytes"].toDouble();
            QVERIFY(llc >= 1 << 16);
            const bool fits = j["weight_bytes_per_token"].toDouble() <= llc;
            QCOMPARE(j.contains("decode_limit_note"), fits);
            if (fits) QVERIFY(j["decode_limit_note"].toString().contains("last-level cache"));
        } else {
            // Unknown (a guest without cache descriptions): said so rather than omitted.
            QVERIFY(j["decode_limit_note"].toString().contains("unknown"));
        }
    }
};

QTEST_GUILESS_MAIN(CliEvalTest)
#include "test_cli_eval.moc"
