// The command-line acceptance of the storage issue, run as real separate processes.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "test_data.hpp"

class TestChatDb : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    // Runs ravel-cli; returns its standard output.
    QByteArray run(const QStringList& args, int* rc = nullptr) {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("XDG_CACHE_HOME", dir_.filePath("cache"));  // fingerprint cache
        p.setProcessEnvironment(env);
        p.start(RAVEL_CLI, args);
        p.waitForFinished(300000);
        if (rc) *rc = p.exitCode();
        if (p.exitCode() != 0) qWarning("ravel-cli: %s", p.readAllStandardError().constData());
        return p.readAllStandardOutput();
    }

    // Runs ravel-cli; returns one JSON object per stdout line.
    QList<QJsonObject> cli(const QStringList& args, int* rc = nullptr) {
        QList<QJsonObject> out;
        for (const QByteArray& line : run(args, rc).split('\n')) {
            if (line.trimmed().isEmpty()) continue;
            out.push_back(QJsonDocument::fromJson(line).object());
        }
        return out;
    }

  private slots:
    void threadsReachTheSession() {
        RAVEL_REQUIRE_SHARED_DATA();
        const QString m = QString::fromStdString(
            (ravel::test::shared_data_dir() / "models/tiny-7v0-834K/model.pth").string());
        int rc = -1;
        auto out = cli({"chat", "--db", dir_.filePath("threads.db"), "--new", "--model", m,
                        "--threads", "3", "--max-tokens", "4", "--prompt", "A", "--json"},
                       &rc);
        QCOMPARE(rc, 0);
        QCOMPARE(out.size(), 1);
        QCOMPARE(out[0]["threads"].toInt(), 3);
    }

    void twoProcessesEqualOne_data() {
        QTest::addColumn<QString>("model");
        for (const char* m :
             {"tiny-4v0-660K", "tiny-5v2-730K", "tiny-6v0-3m-Q5_1dq", "tiny-7v0-834K"}) {
            QTest::newRow(m) << QString(m);
        }
    }
    void twoProcessesEqualOne() {
        RAVEL_REQUIRE_SHARED_DATA();
        QFETCH(QString, model);
        const QString m = QString::fromStdString(
            (ravel::test::shared_data_dir() / "models" / model.toStdString() / "model.pth")
                .string());
        const QString one = dir_.filePath(model + "-one.db");
        const QString two = dir_.filePath(model + "-two.db");
        const QStringList common = {"--model", m, "--max-tokens", "48", "--json"};

        int rc = -1;
        auto both = cli(QStringList{"chat", "--db", one, "--new", "--seed", "1", "--prompt", "A",
                                    "--prompt", "B"} +
                            common,
                        &rc);
        QCOMPARE(rc, 0);
        QCOMPARE(both.size(), 2);
        auto first =
            cli(QStringList{"chat", "--db", two, "--new", "--seed", "1", "--prompt", "A"} + common,
                &rc);
        QCOMPARE(rc, 0);
        QCOMPARE(first.size(), 1);
        QCOMPARE(first[0]["reply"].toString(), both[0]["reply"].toString());
        QVERIFY(!first[0]["resumed_from_snapshot"].toBool());
        const QString id = QString::number(first[0]["conversation"].toInteger());
        auto second = cli(
            {"chat", "--db", two, "--model", m, "--conversation", id, "--prompt", "B", "--json"},
            &rc);
        QCOMPARE(rc, 0);
        QCOMPARE(second.size(), 1);
        QVERIFY(second[0]["resumed_from_snapshot"].toBool());
        QCOMPARE(second[0]["replayed_tokens"].toInteger(), 0);
        QVERIFY(second[0].contains("resume_ms"));
        QCOMPARE(second[0]["conversation"].toInteger(), first[0]["conversation"].toInteger());
        QVERIFY(!both[1]["reply"].toString().isEmpty());
        QCOMPARE(second[0]["reply"].toString(), both[1]["reply"].toString());
        QCOMPARE(second[0]["generated_tokens"].toInteger(),
                 both[1]["generated_tokens"].toInteger());

        auto list = cli({"chat", "--db", two, "--list", "--json"}, &rc);
        QCOMPARE(rc, 0);
    }

    // A conversation exported with its snapshots continues in another database exactly as in
    // the first, from the snapshot (nothing replayed); Markdown keeps the branch's messages.
    void exportImportContinuesExactly() {
        RAVEL_REQUIRE_SHARED_DATA();
        const QString m = QString::fromStdString(
            (ravel::test::shared_data_dir() / "models/tiny-7v0-834K/model.pth").string());
        const QString a = dir_.filePath("export-a.db");
        const QString b = dir_.filePath("export-b.db");
        const QStringList common = {"--model", m, "--max-tokens", "24", "--json"};
        int rc = -1;
        auto first = cli(
            QStringList{"chat", "--db", a, "--new", "--seed", "5", "--prompt", "A"} + common, &rc);
        QCOMPARE(rc, 0);
        const QString id = QString::number(first[0]["conversation"].toInteger());
        const QString file = dir_.filePath("exported.json");
        cli({"chat", "--db", a, "--export", id, "--out", file, "--snapshots"}, &rc);
        QCOMPARE(rc, 0);
        QVERIFY(!QFile::exists(file + ".partial"));

        auto imported = cli({"chat", "--db", b, "--import", file, "--json"}, &rc);
        QCOMPARE(rc, 0);
        QCOMPARE(imported.size(), 1);
        const QString copy = QString::number(imported[0]["conversation"].toInteger());
        auto there = cli(
            QStringList{"chat", "--db", b, "--conversation", copy, "--prompt", "B"} + common, &rc);
        QCOMPARE(rc, 0);
        auto here = cli(
            QStringList{"chat", "--db", a, "--conversation", id, "--prompt", "B"} + common, &rc);
        QCOMPARE(rc, 0);
        QVERIFY(there[0]["resumed_from_snapshot"].toBool());
        QCOMPARE(there[0]["replayed_tokens"].toInteger(), 0);
        QVERIFY(!here[0]["reply"].toString().isEmpty());
        QCOMPARE(there[0]["reply"].toString(), here[0]["reply"].toString());

        const QString md = dir_.filePath("exported.md");
        cli({"chat", "--db", a, "--export", id, "--out", md}, &rc);
        QCOMPARE(rc, 0);
        QFile text(md);
        QVERIFY(text.open(QIODevice::ReadOnly));
        const QByteArray written = text.readAll();
        QVERIFY(written.startsWith("# A\n\n## User\n\nA\n\n## Assistant\n"));
        auto from_md = cli({"chat", "--db", b, "--import", md, "--json"}, &rc);
        QCOMPARE(rc, 0);
        const QString md_copy = QString::number(from_md[0]["conversation"].toInteger());
        QCOMPARE(run({"chat", "--db", b, "--export", md_copy, "--format", "markdown"}, &rc),
                 written);
        QCOMPARE(rc, 0);
    }

    void importRefusesBadFiles() {
        const QString db = dir_.filePath("import-bad.db");
        const QString bad = dir_.filePath("bad.json");
        QFile f(bad);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(R"({"format":1,"version":1,"title":"x","messages":[]})");
        f.close();
        int rc = 0;
        cli({"chat", "--db", db, "--import", bad}, &rc);
        QCOMPARE(rc, 1);
        cli({"chat", "--db", db, "--import", dir_.filePath("missing.json")}, &rc);
        QCOMPARE(rc, 1);
        cli({"chat", "--db", db, "--import", bad, "--format", "xml"}, &rc);
        QCOMPARE(rc, 2);
        cli({"chat", "--db", db, "--export", "7"}, &rc);
        QCOMPARE(rc, 1);
        cli({"chat", "--db", db, "--export", "7", "--leaf", "3", "--format", "json"}, &rc);
        QCOMPARE(rc, 2);
    }

    // A first prompt whose 60th byte falls inside a character: the title is cut before that
    // character (it was cut inside it, stored as invalid UTF-8, and every later --list --json
    // aborted), and the list is JSON.
    void titleCutOnACharacter() {
        RAVEL_REQUIRE_SHARED_DATA();
        const QString m = QString::fromStdString(
            (ravel::test::shared_data_dir() / "models/tiny-7v0-834K/model.pth").string());
        const QString db = dir_.filePath("titles.db");
        const QString prompt = QStringLiteral("a") + QString(30, QChar(0xE9));  // 61 bytes
        int rc = -1;
        cli({"chat", "--db", db, "--new", "--model", m, "--max-tokens", "2", "--prompt", prompt,
             "--json"},
            &rc);
        QCOMPARE(rc, 0);
        const QByteArray listed = run({"chat", "--db", db, "--list", "--json"}, &rc);
        QCOMPARE(rc, 0);
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(listed.trimmed(), &error);
        QCOMPARE(error.error, QJsonParseError::NoError);
        QCOMPARE(doc.array().size(), 1);
        QCOMPARE(doc.array().at(0).toObject()["title"].toString(),
                 QStringLiteral("a") + QString(29, QChar(0xE9)));
    }

    void badUsage() {
        int rc = 0;
        // Options that only mean something with --db are refused without it, not ignored.
        for (const QStringList& args :
             {QStringList{"chat", "--conversation", "3", "--prompt", "hi"},
              QStringList{"chat", "--new", "--prompt", "hi"}, QStringList{"chat", "--list"}}) {
            rc = 0;
            const QByteArray printed = run(args, &rc);
            QCOMPARE(rc, 2);
            QVERIFY(printed.isEmpty());
        }
        cli({"chat", "--db", dir_.filePath("x.db"), "--new", "--list"}, &rc);
        QVERIFY(rc != 0);
        // A new chat without --model uses the demo model; continuing one needs the model it
        // was held with, which is not assumed to be the demo model.
        const QString demo = dir_.filePath("demo.db");
        const auto made = cli({"chat", "--db", demo, "--new", "--prompt", "hi", "--json"}, &rc);
        QCOMPARE(rc, 0);
        QCOMPARE(made.size(), 1);
        const QString id = QString::number(made[0]["conversation"].toInteger());
        const QByteArray answered =
            run({"chat", "--db", demo, "--conversation", id, "--prompt", "more"}, &rc);
        QCOMPARE(rc, 2);
        QVERIFY(answered.isEmpty());
        cli({"chat", "--db", dir_.filePath("x.db"), "--conversation", "12345", "--model",
             "/nonexistent", "--prompt", "x"},
            &rc);
        QVERIFY(rc != 0);
    }
};

QTEST_GUILESS_MAIN(TestChatDb)
#include "test_chat_db.moc"
