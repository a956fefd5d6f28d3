// ChatController and ModelController against the fake backend and in-memory storage: the whole
// chat flow (send, stream, stop, regenerate, edit, branches, rename, delete/undo, errors,
// resume from snapshot, restart) observed through signals and the list models.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QtTest>

#include "controller_fixture.hpp"

using namespace ravel;
using namespace ravel::app;

namespace {

QString rowText(const MessageListModel* m, int row) {
    return m->data(m->index(row), MessageListModel::TextRole).toString();
}

}  // namespace

class TestAppController : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString settingsFile() const { return dir_.filePath("settings.ini"); }

  private slots:
    void blockedUntilModelLoaded() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(!app.chat->ready());
        QVERIFY(app.chat->blockedReason().contains("No model is loaded"));
        QVERIFY(!app.chat->send("hello"));
        QVERIFY(app.chat->errorMessage().contains("Model panel"));
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->ready());
        QCOMPARE(app.model->infoMap().value("vocab").toInt(), 256);
    }

    void modelLoadErrorsAndCancel() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        app.model->load("/no/such/model.pth");
        QVERIFY(app.model->errorMessage().contains("does not exist"));
        QVERIFY(!app.model->loading());

        QTemporaryFile bad(dir_.filePath("bad-XXXXXX.pth"));
        QVERIFY(bad.open());
        app.model->load(bad.fileName());
        QVERIFY(app.model->loading());
        QVERIFY(app.model->errorMessage().isEmpty());  // a new attempt clears the old error
        QTRY_VERIFY_WITH_TIMEOUT(app.model->errorMessage().contains("not an RWKV model"), 5000);
        QVERIFY(!app.model->loaded());

        QTemporaryFile slow(dir_.filePath("slow-XXXXXX.pth"));
        QVERIFY(slow.open());
        app.knobs.loadSteps = 400;
        QSignalSpy progress(app.model.get(), &ModelController::progressChanged);
        app.model->load(slow.fileName());
        QTRY_VERIFY_WITH_TIMEOUT(progress.size() >= 1, 5000);
        app.model->cancelLoad();
        QVERIFY(QTest::qWaitFor([&] { return !app.model->loading(); }, 5000));
        QVERIFY(!app.model->loaded());
        QVERIFY(app.model->errorMessage().isEmpty());  // cancelling is not an error
    }

    void sendStreamsAndBranches() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QAbstractItemModelTester t1(app.chat->messages(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester t2(app.chat->conversations(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        app.knobs.tokenDelayMs = 5;
        auto* messages = app.chat->messages();
        QSignalSpy changed(messages, &QAbstractItemModel::dataChanged);
        QVERIFY(app.chat->send("What is RWKV?"));
        QVERIFY(app.chat->busy());
        QCOMPARE(messages->rowCount(), 2);
        QVERIFY(messages->data(messages->index(1), MessageListModel::StreamingRole).toBool());
        QVERIFY(!app.chat->send("while busy"));  // one reply at a time
        QVERIFY(app.waitIdle());
        QVERIFY(changed.size() >= 2);  // streamed pieces arrived before the end
        QCOMPARE(rowText(messages, 1), test::FakeBackend::replyFor("What is RWKV?"));
        QVERIFY(!messages->data(messages->index(1), MessageListModel::StreamingRole).toBool());
        QCOMPARE(app.chat->currentTitle(), QString("What is RWKV?"));
        QCOMPARE(app.chat->conversations()->count(), 1);
        QVERIFY(app.chat->contextTokens() > 0);

        QCOMPARE(app.knobs.lastBranch.load(), 0);

        // Regenerate: a sibling reply, shown as 2/2, asked for as the second answer (so the
        // backend draws afresh instead of repeating the first from the same snapshot).
        QVERIFY(app.chat->regenerate());
        QVERIFY(app.waitIdle());
        QCOMPARE(app.knobs.lastBranch.load(), 1);
        QCOMPARE(messages->rowCount(), 2);
        QCOMPARE(messages->data(messages->index(1), MessageListModel::SiblingCountRole).toInt(), 2);
        QCOMPARE(messages->data(messages->index(1), MessageListModel::SiblingIndexRole).toInt(), 1);
        const qint64 second = messages->rows()[1].id;
        app.chat->showSibling(second, -1);
        QCOMPARE(messages->data(messages->index(1), MessageListModel::SiblingIndexRole).toInt(), 0);

        // Edit the user message: a new user sibling with its own reply.
        const qint64 user = messages->rows()[0].id;
        QVERIFY(app.chat->editMessage(user, "What is a transformer?"));
        QVERIFY(app.waitIdle());
        QCOMPARE(rowText(messages, 0), QString("What is a transformer?"));
        QCOMPARE(rowText(messages, 1), test::FakeBackend::replyFor("What is a transformer?"));
        QCOMPARE(app.knobs.lastBranch.load(), 0);  // the first reply to the edited message
        QCOMPARE(messages->data(messages->index(0), MessageListModel::SiblingCountRole).toInt(), 2);
        app.chat->showSibling(messages->rows()[0].id, -1);
        QCOMPARE(rowText(messages, 0), QString("What is RWKV?"));
        QCOMPARE(messages->data(messages->index(1), MessageListModel::SiblingCountRole).toInt(), 2);

        // A follow-up resumes from the previous reply's snapshot instead of replaying.
        QVERIFY(app.chat->send("And then?"));
        QVERIFY(app.waitIdle());
        QCOMPARE(app.knobs.lastResumeTurns.load(), 2);
        QVERIFY(app.chat->resumeMs() >= 0);
        QCOMPARE(messages->rowCount(), 4);
    }

    void stopKeepsPartialReply() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        app.knobs.tokenDelayMs = 30;
        QSignalSpy finished(app.chat.get(), &ChatController::replyFinished);
        QVERIFY(app.chat->send(QString(300, QLatin1Char('s'))));
        QVERIFY(QTest::qWaitFor([&] { return !rowText(app.chat->messages(), 1).isEmpty(); }, 5000));
        app.chat->stop();
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() >= 1, 5000);
        QVERIFY(finished.at(0).at(1).toBool());
        QVERIFY(!app.chat->busy());
        const QString partial = rowText(app.chat->messages(), 1);
        QVERIFY(!partial.isEmpty());
        QVERIFY(test::FakeBackend::replyFor(QString(300, QLatin1Char('s'))).startsWith(partial));
        QVERIFY(partial.size() < 100);
    }

    void generationErrorIsShownAndLeavesNoBubble() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        QSignalSpy error(app.chat.get(), &ChatController::errorChanged);
        QVERIFY(app.chat->send("please fail"));
        QTRY_VERIFY_WITH_TIMEOUT(error.size() >= 1, 5000);
        QVERIFY(app.chat->errorMessage().contains("out of memory"));
        QVERIFY(!app.chat->busy());
        QCOMPARE(app.chat->messages()->rowCount(), 1);  // the user message stays
        app.chat->clearError();
        QVERIFY(app.chat->errorMessage().isEmpty());
    }

    void renameDeleteUndo() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("first"));
        QVERIFY(app.waitIdle());
        const qint64 first = app.chat->currentConversationId();
        app.chat->newConversation();
        QVERIFY(app.chat->send("second"));
        QVERIFY(app.waitIdle());
        const qint64 second = app.chat->currentConversationId();
        QVERIFY(first != second);
        QCOMPARE(app.chat->conversations()->idAt(0), second);  // most recent first

        app.chat->renameConversation(first, "  Renamed   chat ");
        QCOMPARE(app.chat->conversations()->find(first)->title, QString("Renamed chat"));
        // Titles are cut between characters: an emoji (two UTF-16 units) across the limit is
        // left out whole, never halved into a lone surrogate that is saved as '?'.
        const QString emoji = QString::fromUtf8("\U0001F600");
        app.chat->renameConversation(first, QString(199, 'a') + emoji);
        QCOMPARE(app.chat->conversations()->find(first)->title, QString(199, 'a'));
        app.chat->renameConversation(first, QString(198, 'a') + emoji);
        QCOMPARE(app.chat->conversations()->find(first)->title, QString(198, 'a') + emoji);
        app.chat->renameConversation(first, "Renamed chat");

        app.chat->deleteConversation(second);
        QVERIFY(app.chat->undoAvailable());
        QCOMPARE(app.chat->conversations()->count(), 1);
        QCOMPARE(app.chat->currentConversationId(), first);
        app.chat->undoDelete();
        QCOMPARE(app.chat->conversations()->count(), 2);
        QCOMPARE(app.chat->currentConversationId(), second);
        QCOMPARE(rowText(app.chat->messages(), 0), QString("second"));

        app.chat->setUndoInterval(50);
        app.chat->deleteConversation(second);
        QVERIFY(QTest::qWaitFor([&] { return !app.chat->undoAvailable(); }, 3000));
        QVERIFY(QTest::qWaitFor([&] { return data.loadAll()->conversations.size() == 1; }, 3000));
        QCOMPARE(data.loadAll()->conversations.first().title, QString("Renamed chat"));
    }

    // Deleted while its reply streams, then undone: the stopped reply is kept and saved like any
    // stopped reply, and what follows is saved under it. (The reply used to be dropped from
    // storage but come back on screen, and every later message failed to save.)
    void deleteWhileGeneratingThenUndo() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        app.knobs.tokenDelayMs = 30;
        QVERIFY(app.chat->send(QString(300, QLatin1Char('s'))));
        const qint64 id = app.chat->currentConversationId();
        QVERIFY(QTest::qWaitFor([&] { return !rowText(app.chat->messages(), 1).isEmpty(); }, 5000));
        app.chat->deleteConversation(id);
        QVERIFY(app.waitIdle());
        QCOMPARE(app.chat->conversations()->count(), 0);  // still off the sidebar
        app.chat->undoDelete();
        QCOMPARE(app.chat->currentConversationId(), id);
        QCOMPARE(app.chat->messages()->rowCount(), 2);
        const QString partial = rowText(app.chat->messages(), 1);
        QVERIFY(!partial.isEmpty());
        app.knobs.tokenDelayMs = 1;
        QVERIFY(app.chat->send("And then?"));
        QVERIFY(app.waitIdle());
        QCOMPARE(app.chat->messages()->rowCount(), 4);
        QVERIFY(QTest::qWaitFor([&] { return data.loadAll()->messages.size() == 4; }, 3000));
        const StoredLibrary stored = *data.loadAll();
        QSet<qint64> ids;
        for (const StoredMessage& m : stored.messages) ids.insert(m.id);
        for (const StoredMessage& m : stored.messages) {
            QVERIFY(m.parentId == 0 || ids.contains(m.parentId));
            if (m.role == Role::Assistant && m.text == partial) ids.insert(-1);
        }
        QVERIFY(ids.contains(-1));  // the stopped reply, with its text
    }

    void settingsArePerConversation() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("a"));
        QVERIFY(app.waitIdle());
        const qint64 a = app.chat->currentConversationId();
        app.generation->setTemperature(0.2);
        app.generation->setSystemPrompt("Be brief.");
        app.chat->newConversation();
        QCOMPARE(app.generation->temperature(), builtin_preset("Balanced").temperature);
        app.chat->selectConversation(a);
        QCOMPARE(app.generation->temperature(), 0.2);
        QCOMPARE(app.generation->systemPrompt(), QString("Be brief."));
        app.generation->applyPreset("Creative");
        QCOMPARE(app.generation->temperature(), builtin_preset("Creative").temperature);
        app.generation->saveAsPreset("Mine");
        QVERIFY(app.generation->presetNames().contains("Mine"));
        app.generation->setMaxTokens(5);
        QVERIFY(app.chat->send("short please"));
        QVERIFY(app.waitIdle());
        QCOMPARE(rowText(app.chat->messages(), 3), test::FakeBackend::replyFor("x").left(5));
    }

    // Before any conversation exists the panel edits what the first one will use: a new
    // conversation (Ctrl+N) keeps those values, as sending the first message does.
    void editsBeforeTheFirstConversationAreKept() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QCOMPARE(app.chat->currentConversationId(), 0);
        app.generation->setTemperature(0.3);
        app.generation->setSystemPrompt("Answer in French.");
        const qint64 id = app.chat->newConversation();
        QVERIFY(id != 0);
        QCOMPARE(app.generation->temperature(), 0.3);
        QCOMPARE(app.generation->systemPrompt(), QString("Answer in French."));
        // The next one, with one shown, starts from the defaults again.
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("bonjour"));
        QVERIFY(app.waitIdle());
        app.chat->newConversation();
        QCOMPARE(app.generation->temperature(), builtin_preset("Balanced").temperature);
    }

    void restartContinuesFromStoredSnapshot() {
        MemoryStorage data;
        qint64 conversation = 0;
        {
            test::AppFixture app(&data, settingsFile());
            QVERIFY(app.waitStorage());
            QVERIFY(app.loadModel());
            QVERIFY(app.chat->send("remember me"));
            QVERIFY(app.waitIdle());
            conversation = app.chat->currentConversationId();
        }
        test::AppFixture app(&data, settingsFile());
        QSignalSpy snapshot(app.chat.get(), &ChatController::snapshotAvailable);
        QVERIFY(app.waitStorage());
        QCOMPARE(app.chat->currentConversationId(), conversation);
        QCOMPARE(app.chat->messages()->rowCount(), 2);
        QCOMPARE(rowText(app.chat->messages(), 0), QString("remember me"));
        QTRY_VERIFY_WITH_TIMEOUT(snapshot.size() == 1, 5000);
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("continue"));
        QVERIFY(app.waitIdle());
        QCOMPARE(app.knobs.lastResumeTurns.load(), 2);
        QCOMPARE(app.chat->messages()->rowCount(), 4);
        // The reply's record (the ids it fed, how it was drawn) was stored with it and comes
        // back with the request, so the backend can rebuild the reply without its snapshot.
        QCOMPARE(app.knobs.lastRecordedReplies.load(), 1);
    }

    // Snapshots held in memory stay within a budget (a long session would otherwise hold a
    // model state per reply): the shown branch's last two replies, then the newest others of
    // the shown conversation that fit, and none of other conversations. Coming back loads the
    // branch end from storage, and the next reply still resumes from the last one.
    void snapshotsInMemoryStayWithinABudget() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        const qint64 one = test::FakeBackend::snapshotFor(2).size();  // each is as long
        app.chat->setSnapshotMemoryBudget(3 * one);
        for (const char* text : {"one", "two", "three", "four"}) {
            QVERIFY(app.chat->send(text));
            QVERIFY(app.waitIdle());
        }
        const qint64 first = app.chat->currentConversationId();
        QCOMPARE(app.chat->snapshotBytesInMemory(), 3 * one);
        app.chat->setSnapshotMemoryBudget(0);  // the branch end is kept whatever the budget
        app.chat->selectConversation(first);
        const qint64 lastTwo =
            test::FakeBackend::snapshotFor(8).size() + test::FakeBackend::snapshotFor(6).size();
        QCOMPARE(app.chat->snapshotBytesInMemory(), lastTwo);

        QVERIFY(app.chat->newConversation() != first);
        QCOMPARE(app.chat->snapshotBytesInMemory(), 0);
        QSignalSpy loaded(app.chat.get(), &ChatController::snapshotAvailable);
        app.chat->selectConversation(first);
        QTRY_COMPARE_WITH_TIMEOUT(loaded.size(), 2, 5000);
        QCOMPARE(app.chat->snapshotBytesInMemory(), lastTwo);
        QVERIFY(app.chat->send("five"));
        QVERIFY(app.waitIdle());
        QCOMPARE(app.knobs.lastResumeTurns.load(), 8);
        QCOMPARE(app.chat->snapshotBytesInMemory(), test::FakeBackend::snapshotFor(10).size() +
                                                        test::FakeBackend::snapshotFor(8).size());
    }

    // Right after a restart the branch end's snapshot is still being read when the user may
    // already send: the reply waits for it and resumes, instead of replaying the transcript.
    void aReplyWaitsForTheSnapshotOnItsWay() {
        MemoryStorage data;
        {
            test::AppFixture app(&data, settingsFile());
            QVERIFY(app.waitStorage());
            QVERIFY(app.loadModel());
            QVERIFY(app.chat->send("remember me"));
            QVERIFY(app.waitIdle());
        }
        test::SlowSnapshots slow(&data, 400);
        test::AppFixture app(
            [&slow]() -> Result<std::unique_ptr<ConversationStorage>> {
                return std::unique_ptr<ConversationStorage>(new test::SharedMemoryStorage(&slow));
            },
            settingsFile());
        QSignalSpy snapshot(app.chat.get(), &ChatController::snapshotAvailable);
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());  // the fake's load is faster than the slow snapshot
        QCOMPARE(snapshot.size(), 0);
        QVERIFY(app.chat->send("continue"));
        QVERIFY(app.chat->busy());
        QVERIFY(app.waitIdle());
        QCOMPARE(snapshot.size(), 1);
        QCOMPARE(app.knobs.lastResumeTurns.load(), 2);
        QCOMPARE(app.chat->messages()->rowCount(), 4);
    }

    // After a restart, regenerating the last reply resumes from the reply before it, whose
    // snapshot is loaded with the last one's.
    void restartThenRegenerateResumes() {
        MemoryStorage data;
        {
            test::AppFixture app(&data, settingsFile());
            QVERIFY(app.waitStorage());
            QVERIFY(app.loadModel());
            QVERIFY(app.chat->send("one"));
            QVERIFY(app.waitIdle());
            QVERIFY(app.chat->send("two"));
            QVERIFY(app.waitIdle());
        }
        test::AppFixture app(&data, settingsFile());
        QSignalSpy snapshot(app.chat.get(), &ChatController::snapshotAvailable);
        QVERIFY(app.waitStorage());
        QCOMPARE(app.chat->messages()->rowCount(), 4);
        QTRY_VERIFY_WITH_TIMEOUT(snapshot.size() == 2, 5000);
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->regenerate());
        QVERIFY(app.waitIdle());
        QCOMPARE(app.knobs.lastResumeTurns.load(), 2);
        QCOMPARE(app.knobs.lastBranch.load(), 1);
    }

    void shutdownWhileGenerating() {
        MemoryStorage data;
        auto app = std::make_unique<test::AppFixture>(&data, settingsFile());
        QVERIFY(app->waitStorage());
        QVERIFY(app->loadModel());
        app->knobs.tokenDelayMs = 100;
        QVERIFY(app->chat->send(QString(500, QLatin1Char('w'))));
        QTest::qWait(150);
        QElapsedTimer timer;
        timer.start();
        app.reset();
        QVERIFY2(timer.elapsed() < 2000, qPrintable(QString::number(timer.elapsed())));
        // The user message was saved; the unfinished reply was not.
        QCOMPARE(data.loadAll()->messages.size(), 1);
    }
};

QTEST_GUILESS_MAIN(TestAppController)
#include "test_app_controller.moc"
