// Drives the built ravel-cli: an interactive session over stdin (streamed replies, /set,
// /settings, /regen, /reset, clean exit) and the scripted --prompt/--json form.
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QtTest>
#include <csignal>

#include "test_data.hpp"

namespace {

QString model_path() {
    return QString::fromStdString(
        (ravel::test::shared_data_dir() / "models/tiny-5v2-730K/model.pth").string());
}

// Reads until `channel` output contains `needle` or the timeout passes.
bool wait_for(QProcess& p, QProcess::ProcessChannel channel, QString& sink, const QString& needle,
              int timeout_ms = 30000) {
    QElapsedTimer timer;
    timer.start();
    while (!sink.contains(needle) && timer.elapsed() < timeout_ms) {
        p.waitForReadyRead(200);
        p.setReadChannel(channel);
        sink += QString::fromUtf8(p.readAll());
    }
    return sink.contains(needle);
}

// Reads `channel` into `sink` until `done()` or the timeout passes.
template <typename Done>
bool read_until(QProcess& p, QProcess::ProcessChannel channel, QString& sink, Done done,
                int timeout_ms = 30000) {
    QElapsedTimer timer;
    timer.start();
    while (!done() && timer.elapsed() < timeout_ms) {
        p.waitForReadyRead(100);
        p.setReadChannel(channel);
        sink += QString::fromUtf8(p.readAll());
    }
    return done();
}

}  // namespace

class TestCliChat : public QObject {
    Q_OBJECT

  private slots:
    void interactiveSessionStreamsAndObeysCommands() {
        RAVEL_REQUIRE_SHARED_DATA();
        QProcess p;
        p.start(RAVEL_CLI_PATH, {"chat", "--model", model_path(), "--seed", "4"});
        QVERIFY(p.waitForStarted());
        QString out;
        QString err;
        p.write("/set temperature 0\n/set max-tokens 12\n/settings\nHello there\n");
        // The reply and its statistics arrive while the process still waits for more input.
        QVERIFY2(wait_for(p, QProcess::StandardError, err, "generated"), qPrintable(err));
        QCOMPARE(p.state(), QProcess::Running);
        p.setReadChannel(QProcess::StandardOutput);
        out += QString::fromUtf8(p.readAll());
        QVERIFY2(out.contains("temperature 0"), qPrintable(out));
        QVERIFY2(out.contains("max_tokens 12"), qPrintable(out));
        // Without --threads: one per physical core, so at least one.
        static const QRegularExpression threads_line(R"(\nthreads ([1-9]\d*)\n)");
        QVERIFY2(threads_line.match(out).hasMatch(), qPrintable(out));

        p.write("/regen\n/set top_p 5\n/bogus\n/reset\n/help\nSecond\n");
        p.closeWriteChannel();  // end of input after the script: the chat must exit by itself
        QVERIFY(p.waitForFinished(60000));
        out += QString::fromUtf8(p.readAllStandardOutput());
        err += QString::fromUtf8(p.readAllStandardError());
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 0);

        // Three replies (first, regenerated, after reset), none longer than max-tokens.
        static const QRegularExpression stats(R"(\[(\d+) prompt tokens.*; (\d+) generated)");
        QList<int> generated;
        for (auto it = stats.globalMatch(err); it.hasNext();) {
            generated.append(it.next().captured(2).toInt());
        }
        QCOMPARE(generated.size(), 3);
        for (int g : generated) QVERIFY(g >= 1 && g <= 12);
        QVERIFY2(err.contains("top_p must be in"), qPrintable(err));  // rejected /set
        QVERIFY2(err.contains("unknown command /bogus"), qPrintable(err));
        QVERIFY(out.contains("(new conversation)"));
        QVERIFY(out.contains("/regen"));  // the help text

        // Greedy decoding: /regen from the same state gives the same reply.
        QStringList replies;
        for (const QString& line : out.split('\n')) {
            const qsizetype at = line.indexOf("Assistant: ");
            if (at >= 0) replies.append(line.mid(at + 11));
        }
        QVERIFY2(replies.size() == 3, qPrintable(out));
        QCOMPARE(replies[1], replies[0]);
    }

    // Ctrl-C during a reply stops that reply and the chat goes on; Ctrl-C at the prompt, or a
    // second one during a reply, ends the chat normally.
    void ctrlCCancelsTheReplyThenExits() {
        RAVEL_REQUIRE_SHARED_DATA();
        for (const bool twice : {false, true}) {
            QProcess p;
            // Near-uniform bytes: a reply this long would take minutes, and a blank line (which
            // ends a reply) is rare, so the reply is still running when the signal comes.
            p.start(RAVEL_CLI_PATH, {"chat", "--model", model_path(), "--temperature", "5",
                                     "--top-p", "1", "--max-tokens", "200000", "--seed", "3"});
            QVERIFY(p.waitForStarted());
            QString out;
            QString err;
            bool cancelled = false;
            for (int attempt = 0; attempt < 5 && !cancelled; ++attempt) {
                const qsizetype from = out.size();
                p.write("Tell me everything\n");
                // The reply is streaming once something follows its label.
                QVERIFY2(read_until(p, QProcess::StandardOutput, out,
                                    [&] {
                                        const qsizetype at = out.indexOf("Assistant: ", from);
                                        return at >= 0 && out.size() >= at + 11 + 40;
                                    }),
                         qPrintable(out));
                QCOMPARE(::kill(static_cast<pid_t>(p.processId()), SIGINT), 0);
                if (twice) {
                    QTest::qWait(300);  // two signals sent at once may arrive as one
                    QCOMPARE(::kill(static_cast<pid_t>(p.processId()), SIGINT), 0);
                    break;
                }
                // The statistics line ends with the stop reason.
                static const QRegularExpression stop(R"(stop: (\w+)\])");
                QRegularExpressionMatch m;
                QVERIFY2(read_until(p, QProcess::StandardError, err,
                                    [&] { return (m = stop.match(err)).hasMatch(); }),
                         qPrintable(err));
                cancelled = m.captured(1) == "cancelled";
                err.clear();
            }
            if (!twice) {
                QVERIFY(cancelled);
                // Still chatting: the next prompt appears, and a command still works.
                QCOMPARE(p.state(), QProcess::Running);
                p.write("/settings\n");
                QVERIFY2(wait_for(p, QProcess::StandardOutput, out, "max_tokens 200000"),
                         qPrintable(out));
                // Ctrl-C at the prompt ends the chat.
                QTest::qWait(200);
                QCOMPARE(::kill(static_cast<pid_t>(p.processId()), SIGINT), 0);
            }
            QVERIFY2(p.waitForFinished(30000), twice ? "two Ctrl-C" : "Ctrl-C at the prompt");
            QCOMPARE(p.exitStatus(), QProcess::NormalExit);
            QCOMPARE(p.exitCode(), 0);
        }
    }

    void promptsWithJsonPrintOneObjectPerTurn() {
        RAVEL_REQUIRE_SHARED_DATA();
        QProcess p;
        p.start(RAVEL_CLI_PATH,
                {"chat", "--model", model_path(), "--prompt", "Hi", "--prompt", "Tell me more",
                 "--max-tokens", "16", "--seed", "9", "--threads", "3", "--json"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const QList<QByteArray> lines = p.readAllStandardOutput().trimmed().split('\n');
        QCOMPARE(lines.size(), 2);
        int first_prompt_tokens = 0;
        for (int i = 0; i < 2; ++i) {
            QJsonParseError error{};
            const auto doc = QJsonDocument::fromJson(lines[i], &error);
            QVERIFY2(doc.isObject(), qPrintable(error.errorString()));
            const QJsonObject o = doc.object();
            QVERIFY(o.contains("conversation") && o["conversation"].isNull());
            QVERIFY(o["reply"].isString());
            QVERIFY(o["generated_tokens"].toInt() >= 1 && o["generated_tokens"].toInt() <= 16);
            QCOMPARE(o["resumed_from_snapshot"].toBool(true), false);
            QCOMPARE(o["resume_ms"].toDouble(-1), 0.0);
            QCOMPARE(o["threads"].toInt(), 3);  // --threads reaches the session
            if (i == 0) first_prompt_tokens = o["prompt_tokens"].toInt();
        }
        // Byte-level model: "User: Hi\n\nAssistant:" is 6 + 2 + 2 + 10 bytes.
        QCOMPARE(first_prompt_tokens, 20);
    }

    void badArgumentsFailWithUsage() {
        QProcess p;
        p.start(RAVEL_CLI_PATH, {"chat", "--temperature", "9", "--model", "x.pth"});
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 2);
        QVERIFY(p.readAllStandardError().contains("temperature"));
        p.start(RAVEL_CLI_PATH, {"chat", "--no-such-option"});
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 2);
        p.start(RAVEL_CLI_PATH, {"chat", "--model", "/nonexistent/model.pth", "--prompt", "x"});
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 1);
    }
};

QTEST_GUILESS_MAIN(TestCliChat)
#include "test_cli_chat.moc"
