// The engine-backed InferenceBackend on a real shared model: it loads with progress, reports
// model information, streams a reply, and a reply resumed from its snapshot equals the same
// reply computed by replaying the transcript. Bad files and cancelled loads are errors with
// messages, not crashes.
#include <QTemporaryDir>
#include <QtTest>

#include "inference_backend.hpp"
#include "test_data.hpp"

using namespace ravel;
using namespace ravel::app;

class TestAppEngineBackend : public QObject {
    Q_OBJECT
    QTemporaryDir cache_;

    static QString modelPath() {
        return QString::fromStdString(
            (test::shared_data_dir() / "models/tiny-5v2-730K/model.pth").string());
    }

  private slots:
    void initTestCase() { qputenv("XDG_CACHE_HOME", cache_.path().toUtf8()); }

    void loadsAndDescribesTheModel() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QList<double> progress;
        auto info = backend->load(LoadRequest{1, modelPath(), 0}, [&](double f) {
            progress.append(f);
            return true;
        });
        QVERIFY2(info.ok(), info.ok() ? "" : info.message().c_str());
        QVERIFY(backend->loaded());
        QCOMPARE(info->version, QString("5.2"));
        QCOMPARE(info->layers, 12);
        QCOMPARE(info->width, 64);
        QCOMPARE(info->vocab, 256);
        QCOMPARE(info->parameters, 731904);
        QCOMPARE(info->tokenizer, QString("byte"));
        QCOMPARE(info->format, QString("pth"));
        QVERIFY(info->stateBytes > 0);
        QVERIFY(!progress.isEmpty());
        QCOMPARE(progress.last(), 1.0);
    }

    void badFileAndCancelledLoad() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QTemporaryDir dir;
        QFile junk(dir.filePath("junk.pth"));
        QVERIFY(junk.open(QIODevice::WriteOnly));
        junk.write(QByteArray(1000, 'j'));
        junk.close();
        auto bad = backend->load(LoadRequest{1, junk.fileName(), 0}, [](double) { return true; });
        QVERIFY(!bad.ok());
        QVERIFY(!bad.message().empty());
        QVERIFY(!backend->loaded());
        auto cancelled =
            backend->load(LoadRequest{2, modelPath(), 0}, [](double) { return false; });
        QVERIFY(cancelled.cancelled());
        QVERIFY(!backend->loaded());
    }

    void resumedReplyEqualsReplayedReply() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QVERIFY(backend->load(LoadRequest{1, modelPath(), 0}, [](double) { return true; }).ok());
        GenerationRequest first;
        first.id = 1;
        first.turns = {ChatTurn{Role::User, "Tell me a story."}};
        first.sampling.temperature = 1.0;
        first.sampling.seed = 1234;
        first.sampling.maxTokens = 40;
        QString streamed;
        auto never = [] { return false; };
        auto r1 = backend->generate(
            first, [&](const QString& s) { streamed += s; }, never);
        QVERIFY2(r1.ok(), r1.ok() ? "" : r1.message().c_str());
        QVERIFY(r1->generatedTokens > 0);
        QCOMPARE(streamed, r1->text);
        QVERIFY(!r1->snapshot.isEmpty());
        QCOMPARE(r1->resumeMs, -1.0);

        GenerationRequest second = first;
        second.id = 2;
        second.turns.append(ChatTurn{Role::Assistant, r1->text});
        second.turns.append(ChatTurn{Role::User, "And then?"});
        second.snapshot = r1->snapshot;
        second.resumeTurns = 2;
        auto resumed = backend->generate(
            second, [](const QString&) {}, never);
        QVERIFY(resumed.ok());
        QVERIFY(resumed->resumeMs >= 0);
        QCOMPARE(resumed->promptTokens, int(QByteArray("User: And then?\n\nAssistant:").size()));

        // A corrupted snapshot is a cache miss: the transcript is replayed, no error.
        GenerationRequest damaged = second;
        damaged.snapshot[damaged.snapshot.size() / 2] =
            static_cast<char>(damaged.snapshot[damaged.snapshot.size() / 2] ^ 0x55);
        auto replayed = backend->generate(
            damaged, [](const QString&) {}, never);
        QVERIFY(replayed.ok());
        QCOMPARE(replayed->resumeMs, -1.0);
        QVERIFY(replayed->promptTokens > resumed->promptTokens);
        QCOMPARE(replayed->contextTokens, resumed->contextTokens);
    }

    void stopEndsTheReply() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QVERIFY(backend->load(LoadRequest{1, modelPath(), 0}, [](double) { return true; }).ok());
        GenerationRequest r;
        r.turns = {ChatTurn{Role::User, "Hello"}};
        r.sampling.maxTokens = 1000;
        r.sampling.seed = 1;
        int calls = 0;
        auto result = backend->generate(
            r, [](const QString&) {}, [&] { return ++calls > 5; });
        QVERIFY(result.ok());
        QVERIFY(result->stopped);
        QVERIFY(result->snapshot.isEmpty());
        QVERIFY(result->generatedTokens <= 5);
    }
};

QTEST_GUILESS_MAIN(TestAppEngineBackend)
#include "test_app_engine_backend.moc"
