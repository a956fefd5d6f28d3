// InferenceWorker on its thread, with the fake backend: streaming is coalesced, Stop lands
// within a token, loads report progress and can be cancelled, errors arrive as signals, and the
// host shuts down cleanly while a reply is being generated.
#include <QSignalSpy>
#include <QtTest>

#include "fake_backend.hpp"
#include "inference_host.hpp"
#include "stream_coalescer.hpp"

using namespace ravel;
using namespace ravel::app;

namespace {

// Waits until `spy` has seen `n` signals. Unlike QSignalSpy::wait() it also counts a signal
// that a fast worker thread emitted before the wait began.
bool waitCount(const QSignalSpy& spy, int n, int ms = 5000) {
    return QTest::qWaitFor([&] { return spy.size() >= n; }, ms);
}

}  // namespace

class TestAppWorker : public QObject {
    Q_OBJECT

    std::unique_ptr<InferenceHost> makeHost(test::FakeBackendKnobs* knobs) {
        return std::make_unique<InferenceHost>(std::make_unique<test::FakeBackend>(knobs));
    }

    void loadOk(InferenceHost& host) {
        QSignalSpy loaded(host.worker(), &InferenceWorker::modelLoaded);
        QMetaObject::invokeMethod(
            host.worker(), "loadModel", Qt::QueuedConnection,
            Q_ARG(ravel::app::LoadRequest, (LoadRequest{1, "good.pth", 0, {}, {}})));
        QVERIFY(waitCount(loaded, 1, 5000));
    }

    static GenerationRequest request(quint64 id, const QString& text) {
        GenerationRequest r;
        r.id = id;
        r.turns = {ChatTurn{Role::User, text, {}}};
        return r;
    }

    static void post(InferenceHost& host, const GenerationRequest& r) {
        QMetaObject::invokeMethod(host.worker(), "generate", Qt::QueuedConnection,
                                  Q_ARG(ravel::app::GenerationRequest, r));
    }

  private slots:
    void coalescerFlushesFirstPieceThenWaits() {
        StreamCoalescer c(1000);
        QVERIFY(c.add("a"));
        QCOMPARE(c.take(), QString("a"));
        QVERIFY(!c.add("b"));
        QVERIFY(!c.add("c"));
        QCOMPARE(c.take(), QString("bc"));
        QVERIFY(c.empty());
    }

    void streamsCoalescedAndComplete() {
        test::FakeBackendKnobs knobs;
        knobs.tokenDelayMs = 2;
        auto host = makeHost(&knobs);
        loadOk(*host);
        QSignalSpy pieces(host->worker(), &InferenceWorker::textStreamed);
        QSignalSpy done(host->worker(), &InferenceWorker::generationFinished);
        const QString user = QString(200, QLatin1Char('x'));
        QElapsedTimer timer;
        timer.start();
        post(*host, request(7, user));
        QVERIFY(waitCount(done, 1, 10000));
        const double seconds = timer.elapsed() / 1000.0;
        QString streamed;
        for (const auto& args : pieces) {
            QCOMPARE(args.at(0).toULongLong(), 7u);
            streamed += args.at(1).toString();
        }
        const QString expected = test::FakeBackend::replyFor(user);
        QCOMPARE(streamed, expected);
        const auto result = done.at(0).at(0).value<GenerationResult>();
        QCOMPARE(result.id, 7u);
        QCOMPARE(result.text, expected);
        QVERIFY(!result.stopped);
        QVERIFY(!result.snapshot.isEmpty());
        // ~220 tokens at 2 ms each: far fewer updates than tokens, at most ~30 per second.
        QVERIFY2(pieces.size() < expected.size() / 3, qPrintable(QString::number(pieces.size())));
        QVERIFY(pieces.size() <= 2 + 35 * seconds);
    }

    void stopLandsWithinOneToken() {
        test::FakeBackendKnobs knobs;
        knobs.tokenDelayMs = 20;
        auto host = makeHost(&knobs);
        loadOk(*host);
        QSignalSpy pieces(host->worker(), &InferenceWorker::textStreamed);
        QSignalSpy done(host->worker(), &InferenceWorker::generationFinished);
        post(*host, request(3, QString(500, QLatin1Char('y'))));
        QVERIFY(waitCount(pieces, 1, 5000));
        host->worker()->requestStop(3);
        QVERIFY(waitCount(done, 1, 5000));
        const auto result = done.at(0).at(0).value<GenerationResult>();
        QVERIFY(result.stopped);
        QVERIFY(result.snapshot.isEmpty());
        // The flag is read before each token, so at most one more token follows the request.
        QVERIFY2(result.generatedTokens < 10, qPrintable(QString::number(result.generatedTokens)));
    }

    void stopBeforeStartStillStops() {
        test::FakeBackendKnobs knobs;
        auto host = makeHost(&knobs);
        loadOk(*host);
        QSignalSpy done(host->worker(), &InferenceWorker::generationFinished);
        host->worker()->requestStop(5);  // before the request is even posted
        post(*host, request(5, "hello"));
        QVERIFY(waitCount(done, 1, 5000));
        const auto result = done.at(0).at(0).value<GenerationResult>();
        QVERIFY(result.stopped);
        QCOMPARE(result.generatedTokens, 0);
        // A later request is not affected by the old Stop.
        post(*host, request(6, "hello"));
        QVERIFY(waitCount(done, 2, 5000));
        QVERIFY(!done.at(1).at(0).value<GenerationResult>().stopped);
    }

    void loadReportsProgressAndCanBeCancelled() {
        test::FakeBackendKnobs knobs;
        knobs.loadSteps = 200;
        knobs.loadStepDelayMs = 5;
        auto host = makeHost(&knobs);
        QSignalSpy progress(host->worker(), &InferenceWorker::loadProgress);
        QSignalSpy failed(host->worker(), &InferenceWorker::loadFailed);
        QSignalSpy loaded(host->worker(), &InferenceWorker::modelLoaded);
        QMetaObject::invokeMethod(
            host->worker(), "loadModel", Qt::QueuedConnection,
            Q_ARG(ravel::app::LoadRequest, (LoadRequest{9, "m.pth", 0, {}, {}})));
        QVERIFY(waitCount(progress, 1, 5000));
        host->worker()->requestCancelLoad(9);
        QVERIFY(waitCount(failed, 1, 5000));
        QCOMPARE(failed.at(0).at(0).toULongLong(), 9u);
        QVERIFY(failed.at(0).at(2).toBool());  // cancelled
        QCOMPARE(loaded.size(), 0);
        double last = 0;
        for (const auto& args : progress) {
            QVERIFY(args.at(1).toDouble() >= last);
            last = args.at(1).toDouble();
        }
        QVERIFY(last < 1.0);
        // Generation without a model is an error with something to do.
        QSignalSpy genFailed(host->worker(), &InferenceWorker::generationFailed);
        post(*host, request(1, "hi"));
        QVERIFY(waitCount(genFailed, 1, 5000));
        QVERIFY(genFailed.at(0).at(1).toString().contains("Open a model"));
    }

    void errorsArriveAsSignals() {
        test::FakeBackendKnobs knobs;
        auto host = makeHost(&knobs);
        QSignalSpy failed(host->worker(), &InferenceWorker::loadFailed);
        QMetaObject::invokeMethod(
            host->worker(), "loadModel", Qt::QueuedConnection,
            Q_ARG(ravel::app::LoadRequest, (LoadRequest{1, "bad.pth", 0, {}, {}})));
        QVERIFY(waitCount(failed, 1, 5000));
        QVERIFY(!failed.at(0).at(2).toBool());
        QVERIFY(failed.at(0).at(1).toString().contains("not an RWKV model"));
        loadOk(*host);
        QSignalSpy genFailed(host->worker(), &InferenceWorker::generationFailed);
        post(*host, request(2, "please fail"));
        QVERIFY(waitCount(genFailed, 1, 5000));
        QCOMPARE(genFailed.at(0).at(0).toULongLong(), 2u);
        QVERIFY(genFailed.at(0).at(1).toString().contains("out of memory"));
        // An exception from the backend is an error like any other, and the worker goes on.
        post(*host, request(3, "please throw"));
        QVERIFY(waitCount(genFailed, 2, 5000));
        QCOMPARE(genFailed.at(1).at(0).toULongLong(), 3u);
        QVERIFY2(genFailed.at(1).at(1).toString().contains("boom (fake)"),
                 qPrintable(genFailed.at(1).at(1).toString()));
        QSignalSpy finished(host->worker(), &InferenceWorker::generationFinished);
        post(*host, request(4, "still here?"));
        QVERIFY(waitCount(finished, 1, 5000));
    }

    void shutdownWhileGenerating() {
        test::FakeBackendKnobs knobs;
        knobs.tokenDelayMs = 50;
        auto host = makeHost(&knobs);
        loadOk(*host);
        QSignalSpy pieces(host->worker(), &InferenceWorker::textStreamed);
        post(*host, request(1, QString(1000, QLatin1Char('z'))));
        post(*host, request(2, QString(1000, QLatin1Char('z'))));  // queued behind it
        QVERIFY(waitCount(pieces, 1, 5000));
        QElapsedTimer timer;
        timer.start();
        host.reset();  // must stop the reply and join, not wait for 1000 tokens
        QVERIFY2(timer.elapsed() < 2000, qPrintable(QString::number(timer.elapsed())));
    }

    void workerRunsOnItsOwnThread() {
        test::FakeBackendKnobs knobs;
        auto host = makeHost(&knobs);
        QVERIFY(host->worker()->thread() != QThread::currentThread());
        QVERIFY(host->worker()->thread()->isRunning());
    }
};

QTEST_GUILESS_MAIN(TestAppWorker)
#include "test_app_worker.moc"
