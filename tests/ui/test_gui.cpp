// Drives the real QML offscreen, the way a person would: keys and mouse clicks on the items the
// user sees, with the real engine (a shared tiny model) and a real SQLite database. Then the app
// is torn down, started again on the same database, and the conversation continues from its
// snapshot.
#include <algorithm>
#include <cmath>

#include <QGuiApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QQuickItem>
#include <QQuickWindow>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "../app/fake_backend.hpp"
#include "app_settings.hpp"
#include "app_shell.hpp"
#include "chat_controller.hpp"
#include "conversation_storage.hpp"
#include "model_controller.hpp"
#include "test_data.hpp"
#include "theme.hpp"

using namespace ravel;

namespace {

QString modelPath() {
    return QString::fromStdString(
        (test::shared_data_dir() / "models/tiny-5v2-730K/model.pth").string());
}

// WCAG 2 contrast ratio of two opaque colours (4.5 is the minimum for normal text).
double contrastRatio(const QColor& a, const QColor& b) {
    const auto luminance = [](const QColor& c) {
        const auto channel = [](double v) {
            return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
        };
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) +
               0.0722 * channel(c.blueF());
    };
    const double la = luminance(a);
    const double lb = luminance(b);
    return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

}  // namespace

class TestGui : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<ui::AppShell> shell_;

    QQuickWindow* window() const { return shell_->window(); }

    void startShell() {
        ui::ShellOptions options;
        options.settingsFile = dir_.filePath("settings.ini");
        options.databasePath = dir_.filePath("conversations.sqlite");
        options.modelPath = modelPath();
        shell_ = std::make_unique<ui::AppShell>(options);
        QVERIFY(shell_->start());
        QVERIFY(window() != nullptr);
        window()->resize(1280, 800);
        window()->show();
        QVERIFY(QTest::qWaitForWindowExposed(window()));
        QTRY_VERIFY_WITH_TIMEOUT(shell_->chat()->storageReady(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(shell_->model()->loaded(), 30000);
        QVERIFY(shell_->model()->errorMessage().isEmpty());
    }

    // Searches the visual tree (ListView delegates have no QObject parent) and the object tree.
    static QQuickItem* findItem(QObject* root, const QString& name) {
        QList<QObject*> pending{root};
        while (!pending.isEmpty()) {
            QObject* current = pending.takeFirst();
            auto* as_item = qobject_cast<QQuickItem*>(current);
            if (as_item && current != root && current->objectName() == name) return as_item;
            if (as_item) {
                for (QQuickItem* child : as_item->childItems()) pending.append(child);
            }
            for (QObject* child : current->children()) pending.append(child);
        }
        return nullptr;
    }

    // A non-visual object (a dialog) anywhere under the window's items.
    QObject* findObject(const QString& name) {
        QList<QObject*> pending{window()->contentItem()};
        while (!pending.isEmpty()) {
            QObject* current = pending.takeFirst();
            if (current->objectName() == name) return current;
            if (auto* as_item = qobject_cast<QQuickItem*>(current)) {
                for (QQuickItem* child : as_item->childItems()) pending.append(child);
            }
            for (QObject* child : current->children()) pending.append(child);
        }
        qWarning("no object named %s", qPrintable(name));
        return nullptr;
    }

    // As if `file` had been chosen in an open file dialog. Qt's own dialog replaces
    // selectedFile with what its fields hold when accept() runs, so the choice is set and
    // announced directly; the dialog is then closed.
    static void accept(QObject* dialog, const QString& file) {
        dialog->setProperty("selectedFile", QUrl::fromLocalFile(file));
        QVERIFY(QMetaObject::invokeMethod(dialog, "accepted"));
        QVERIFY(QMetaObject::invokeMethod(dialog, "close"));
    }

    QQuickItem* item(const QString& name, QObject* under = nullptr) {
        QQuickItem* found = under ? findItem(under, name) : findItem(window()->contentItem(), name);
        if (found == nullptr) qWarning("no item named %s", qPrintable(name));
        return found;
    }

    // The delegate for a row of the message list, once the view has (re)created it.
    QQuickItem* message(int row) {
        const QString name = QStringLiteral("message_%1").arg(row);
        QQuickItem* found = nullptr;
        (void)QTest::qWaitFor(
            [&] {
                found = findItem(window()->contentItem(), name);
                return found != nullptr && found->isVisible() && found->parentItem() != nullptr;
            },
            5000);
        if (found == nullptr) qWarning("no message delegate %s", qPrintable(name));
        return found;
    }

    void click(QQuickItem* target) {
        QVERIFY(target != nullptr);
        QVERIFY2(target->isVisible(), qPrintable(target->objectName()));
        QVERIFY2(target->isEnabled(), qPrintable(target->objectName()));
        const QPointF center =
            target->mapToScene(QPointF(target->width() / 2, target->height() / 2));
        QTest::mouseClick(window(), Qt::LeftButton, {}, center.toPoint());
    }

    // QTest::keyClicks exists only for widgets; this is the same for a QWindow (ASCII text).
    void typeText(const QString& text) {
        for (QChar c : text) QTest::keyClick(window(), c.toLatin1());
    }

    void typeAndSend(const QString& text) {
        QQuickItem* input = item("composerInput");
        QVERIFY(input && input->isEnabled());
        click(input);
        typeText(text);
        QTest::keyClick(window(), Qt::Key_Return);
    }

    int messageCount() { return item("messageList")->property("count").toInt(); }
    QString rowText(int row) {
        auto* m = shell_->chat()->messages();
        return m->data(m->index(row), app::MessageListModel::TextRole).toString();
    }
    void waitIdle() { QTRY_VERIFY_WITH_TIMEOUT(!shell_->chat()->busy(), 60000); }

  private slots:
    void initTestCase() {
        RAVEL_REQUIRE_SHARED_DATA();
        qputenv("XDG_CACHE_HOME", dir_.filePath("cache").toUtf8());
    }

    void chatFlowThroughTheWindow() {
        RAVEL_REQUIRE_SHARED_DATA();
        startShell();
        QVERIFY(!item("blockedReason")->isVisible());
        auto* chat = shell_->chat();

        // Type and send; the reply streams in several updates.
        QSignalSpy streamed(chat->messages(), &QAbstractItemModel::dataChanged);
        QSignalSpy finished(chat, &app::ChatController::replyFinished);
        typeAndSend("Tell me about the sea.");
        QTRY_COMPARE_WITH_TIMEOUT(messageCount(), 2, 5000);
        QCOMPARE(rowText(0), QString("Tell me about the sea."));
        waitIdle();
        QCOMPARE(finished.size(), 1);
        QVERIFY(!finished.at(0).at(1).toBool());
        QVERIFY(!rowText(1).isEmpty());
        QVERIFY2(streamed.size() >= 2, qPrintable(QString::number(streamed.size())));
        QCOMPARE(chat->conversations()->count(), 1);
        QVERIFY(item("statusText")->property("text").toString().contains("tokens in conversation"));

        // Stop: Esc right after sending ends the reply before it starts; the app stays usable.
        typeAndSend("Another question");
        QVERIFY(chat->busy());
        QTest::keyClick(window(), Qt::Key_Escape);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 2, 30000);
        QVERIFY(finished.at(1).at(1).toBool());
        QVERIFY(!chat->busy());
        // Esc usually lands before the first token: no empty reply bubble. On a busy machine
        // the worker may stream a few tokens first; that partial reply is kept, never empty.
        QTRY_VERIFY_WITH_TIMEOUT(messageCount() == 3 || messageCount() == 4, 5000);
        const int afterStop = messageCount();
        if (afterStop == 4) QVERIFY(!rowText(3).isEmpty());

        // Regenerate the first reply: a second version, then back to the first.
        const QString firstReply = rowText(1);
        click(item("regenerateButton", message(1)));
        QTRY_VERIFY_WITH_TIMEOUT(chat->busy() || finished.size() == 3, 5000);
        waitIdle();
        QTRY_COMPARE_WITH_TIMEOUT(item("siblingLabel", message(1))->property("text").toString(),
                                  QString("2/2"), 5000);
        QCOMPARE(messageCount(), 2);  // the new branch has no follow-up yet
        click(item("previousSibling", message(1)));
        QTRY_COMPARE_WITH_TIMEOUT(item("siblingLabel", message(1))->property("text").toString(),
                                  QString("1/2"), 5000);
        QCOMPARE(rowText(1), firstReply);
        QCOMPARE(messageCount(), afterStop);  // the follow-up of the first branch is back

        // Edit the first message: a new branch with its own reply, then move between them.
        click(item("editButton", message(0)));
        QQuickItem* edit = item("editField", message(0));
        QTRY_VERIFY(edit->isVisible());
        QTest::keyClick(window(), Qt::Key_A, Qt::ControlModifier);
        typeText("Tell me about the mountains.");
        click(item("saveEditButton", message(0)));
        QTRY_VERIFY_WITH_TIMEOUT(chat->busy() || finished.size() == 4, 5000);
        waitIdle();
        QCOMPARE(rowText(0), QString("Tell me about the mountains."));
        QTRY_COMPARE_WITH_TIMEOUT(item("siblingLabel", message(0))->property("text").toString(),
                                  QString("2/2"), 5000);
        click(item("previousSibling", message(0)));
        QTRY_COMPARE_WITH_TIMEOUT(rowText(0), QString("Tell me about the sea."), 5000);
        click(item("nextSibling", message(0)));
        QTRY_COMPARE_WITH_TIMEOUT(rowText(0), QString("Tell me about the mountains."), 5000);

        // The selected row's labels stay readable on the accent colour, in both themes.
        QQuickItem* row = item("conversation_0");
        const QString originalMode = shell_->theme()->mode();
        for (const char* mode : {"light", "dark"}) {
            shell_->theme()->setMode(mode);
            for (const char* label : {"conversationTitle", "conversationDate"}) {
                QQuickItem* text = item(label, row);
                QVERIFY(text != nullptr);
                const auto color = text->property("color").value<QColor>();
                const double opacity = text->opacity();
                const QColor accent = shell_->theme()->accent();
                const QColor shown = QColor::fromRgbF(
                    static_cast<float>(color.redF() * opacity + accent.redF() * (1 - opacity)),
                    static_cast<float>(color.greenF() * opacity + accent.greenF() * (1 - opacity)),
                    static_cast<float>(color.blueF() * opacity + accent.blueF() * (1 - opacity)));
                const double ratio = contrastRatio(shown, accent);
                QVERIFY2(ratio >= 4.5,
                         qPrintable(QString("%1 in %2: contrast %3").arg(label, mode).arg(ratio)));
            }
        }
        shell_->theme()->setMode(originalMode);

        // Rename through the sidebar.
        click(item("renameButton", row));
        QTRY_VERIFY(item("renameField", row)->isVisible());
        QTest::keyClick(window(), Qt::Key_A, Qt::ControlModifier);
        typeText("Sea and mountains");
        QTest::keyClick(window(), Qt::Key_Return);
        QTRY_COMPARE(chat->currentTitle(), QString("Sea and mountains"));

        // Delete, then undo.
        click(item("deleteButton", item("conversation_0")));
        QTRY_COMPARE(item("conversationList")->property("count").toInt(), 0);
        QTRY_VERIFY(item("undoBar")->isVisible());
        click(item("undoButton"));
        QTRY_COMPARE(item("conversationList")->property("count").toInt(), 1);
        QCOMPARE(chat->currentTitle(), QString("Sea and mountains"));
        QCOMPARE(rowText(0), QString("Tell me about the mountains."));

        // Search filters the sidebar by message text.
        click(item("searchField"));
        typeText("zebra");
        QTRY_COMPARE(item("conversationList")->property("count").toInt(), 0);
        QTest::keyClick(window(), Qt::Key_Escape);
        QTRY_COMPARE(item("conversationList")->property("count").toInt(), 1);

        // The weights setting: the box shows it, and a reload converts the model to it.
        QCOMPARE(shell_->model()->infoMap().value("weights").toString(), QString("f32"));
        shell_->settings()->setWeights("q8_0");
        QCOMPARE(item("weightsBox")->property("currentIndex").toInt(), 3);
        click(item("reloadModelButton"));
        QTRY_COMPARE_WITH_TIMEOUT(shell_->model()->infoMap().value("weights").toString(),
                                  QString("q8_0"), 30000);
        QTRY_VERIFY_WITH_TIMEOUT(shell_->model()->loaded(), 30000);
        shell_->settings()->setWeights("stored");
    }

    void restartContinuesFromSnapshot() {
        RAVEL_REQUIRE_SHARED_DATA();
        QVERIFY(shell_ != nullptr);
        const int rows = shell_->chat()->messages()->rowCount();
        const QString title = shell_->chat()->currentTitle();
        shell_->shutdown();
        shell_.reset();

        startShell();
        auto* chat = shell_->chat();
        QCOMPARE(chat->currentTitle(), title);
        QCOMPARE(chat->messages()->rowCount(), rows);
        QCOMPARE(rowText(0), QString("Tell me about the mountains."));
        QCOMPARE(chat->resumeMs(), -1.0);  // nothing generated yet in this process
        typeAndSend("Go on.");
        waitIdle();
        QCOMPARE(chat->messages()->rowCount(), rows + 2);
        QVERIFY2(chat->resumeMs() >= 0, "the reply did not continue from the stored snapshot");
        QVERIFY(item("statusText")->property("text").toString().contains("resumed from snapshot"));
        shell_->shutdown();
        shell_.reset();
    }

    // Export through the sidebar's dialog, then import the file back as a second conversation.
    void exportAndImportThroughTheSidebar() {
        RAVEL_REQUIRE_SHARED_DATA();
        startShell();
        auto* chat = shell_->chat();
        const int conversations = chat->conversations()->count();
        QVERIFY(conversations >= 1);
        const QString title = chat->currentTitle();
        const QString first = rowText(0);
        const int rows = chat->messages()->rowCount();

        const QString file = dir_.filePath("exported.json");
        auto* exportDialog = findObject("exportDialog");
        QVERIFY(exportDialog != nullptr);
        click(item("exportButton", item("conversation_0")));
        QTRY_VERIFY(exportDialog->property("visible").toBool());
        accept(exportDialog, file);
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(file), 10000);
        QTRY_VERIFY(item("noticeBar")->isVisible());
        QVERIFY(item("noticeText")->property("text").toString().contains("Exported"));

        auto* importDialog = findObject("importDialog");
        QVERIFY(importDialog != nullptr);
        click(item("importButton"));
        QTRY_VERIFY(importDialog->property("visible").toBool());
        accept(importDialog, file);
        QTRY_COMPARE_WITH_TIMEOUT(item("conversationList")->property("count").toInt(),
                                  conversations + 1, 10000);
        QTRY_VERIFY(item("noticeText")->property("text").toString().contains("Imported"));
        QCOMPARE(chat->currentTitle(), title);
        QCOMPARE(chat->messages()->rowCount(), rows);
        QCOMPARE(rowText(0), first);
        QVERIFY2(chat->errorMessage().isEmpty(), qPrintable(chat->errorMessage()));
        shell_->shutdown();
        shell_.reset();
    }

    // Exported through the dialog's third filter, the file carries the state snapshots, and a
    // copy imported from it continues from the snapshot; a copy of the plain export replays
    // its transcript instead.
    void exportedSnapshotsResumeTheCopy() {
        RAVEL_REQUIRE_SHARED_DATA();
        startShell();
        auto* chat = shell_->chat();
        auto* exportDialog = findObject("exportDialog");
        auto* importDialog = findObject("importDialog");
        QVERIFY(exportDialog != nullptr && importDialog != nullptr);
        typeAndSend("Once more.");  // a reply of this process, so its snapshot is stored
        waitIdle();
        QCOMPARE(chat->conversations()->idAt(0), chat->currentConversationId());

        const auto exportAndImport = [&](const QString& file, int filter) {
            const int before = chat->conversations()->count();
            click(item("exportButton", item("conversation_0")));
            QTRY_VERIFY(exportDialog->property("visible").toBool());
            auto* chosen = exportDialog->property("selectedNameFilter").value<QObject*>();
            QVERIFY(chosen != nullptr);
            QVERIFY(chosen->setProperty("index", filter));
            accept(exportDialog, file);
            QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(file), 10000);
            QTRY_VERIFY(item("noticeText")->property("text").toString().contains("Exported"));
            QCOMPARE(item("noticeText")->property("text").toString().contains("state snapshot"),
                     filter == 2);
            click(item("importButton"));
            QTRY_VERIFY(importDialog->property("visible").toBool());
            accept(importDialog, file);
            QTRY_COMPARE_WITH_TIMEOUT(chat->conversations()->count(), before + 1, 10000);
        };
        const auto lastHasSnapshot = [](const QString& file) {
            QFile f(file);
            if (!f.open(QIODevice::ReadOnly)) return false;
            const QJsonArray rows = QJsonDocument::fromJson(f.readAll())["messages"].toArray();
            return !rows.isEmpty() && rows.last().toObject().contains("snapshot");
        };

        const QString withState = dir_.filePath("with-state.json");
        exportAndImport(withState, 2);
        QVERIFY(lastHasSnapshot(withState));
        const int rows = chat->messages()->rowCount();
        typeAndSend("Go on.");
        waitIdle();
        QCOMPARE(chat->messages()->rowCount(), rows + 2);
        QVERIFY2(chat->resumeMs() >= 0, "the copy did not continue from the file's snapshot");

        // The plain export of the original, now second in the list after the copy (shown, so
        // that its row's buttons are).
        chat->selectConversation(chat->conversations()->idAt(1));
        const QString plain = dir_.filePath("plain.json");
        click(item("exportButton", item("conversation_1")));
        QTRY_VERIFY(exportDialog->property("visible").toBool());
        exportDialog->property("selectedNameFilter").value<QObject*>()->setProperty("index", 0);
        accept(exportDialog, plain);
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(plain), 10000);
        QVERIFY(!lastHasSnapshot(plain));
        click(item("importButton"));
        QTRY_VERIFY(importDialog->property("visible").toBool());
        accept(importDialog, plain);
        QTRY_VERIFY_WITH_TIMEOUT(
            item("noticeText")->property("text").toString().contains("Imported"), 10000);
        typeAndSend("Go on.");
        waitIdle();
        QVERIFY2(chat->resumeMs() < 0, "a copy without snapshots cannot have resumed from one");
        QVERIFY2(chat->errorMessage().isEmpty(), qPrintable(chat->errorMessage()));
        shell_->shutdown();
        shell_.reset();
    }

    // Closing the window while a reply streams keeps what was written of it, as Stop does: it
    // is in the database at the next start. (The shutdown used to drop the reply's end.)
    void closingWhileGeneratingKeepsThePartialReply() {
        test::FakeBackendKnobs knobs;
        knobs.tokenDelayMs = 30;
        const QString fakeModel = dir_.filePath("fake-model.pth");
        {
            QFile file(fakeModel);
            QVERIFY(file.open(QIODevice::WriteOnly));
        }
        ui::ShellOptions options;
        options.settingsFile = dir_.filePath("closing.ini");
        options.databasePath = dir_.filePath("closing.sqlite");
        options.modelPath = fakeModel;
        options.backend = [&knobs] { return std::make_unique<test::FakeBackend>(&knobs); };
        shell_ = std::make_unique<ui::AppShell>(options);
        QVERIFY(shell_->start());
        QTRY_VERIFY_WITH_TIMEOUT(shell_->chat()->storageReady(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(shell_->model()->loaded(), 30000);
        auto* chat = shell_->chat();
        QVERIFY(chat->send(QString(300, QLatin1Char('s'))));
        QTRY_VERIFY_WITH_TIMEOUT(!rowText(1).isEmpty(), 10000);
        QVERIFY(chat->busy());
        shell_->shutdown();
        shell_.reset();

        auto storage = app::open_sqlite_storage(options.databasePath);
        QVERIFY(storage.ok());
        auto library = (*storage)->loadAll();
        QVERIFY(library.ok());
        QCOMPARE(library->messages.size(), 2);
        const app::StoredMessage& reply = library->messages.at(1);
        QCOMPARE(reply.role, app::Role::Assistant);
        QVERIFY(!reply.text.isEmpty());
        QVERIFY(test::FakeBackend::replyFor(QString(300, QLatin1Char('s'))).startsWith(reply.text));
    }
};

int main(int argc, char* argv[]) {
    // Offscreen, software-rendered: runs without a display or GPU.
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    if (qEnvironmentVariableIsEmpty("QT_QUICK_BACKEND")) qputenv("QT_QUICK_BACKEND", "software");
    QGuiApplication app(argc, argv);
    TestGui test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_gui.moc"
