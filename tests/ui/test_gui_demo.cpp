// First run: the app started with no model given and none remembered opens on the bundled demo
// model (resources/models), says it is a small demo model and how to open a real one, and a
// question typed into the window gets a correct, streamed answer from the real engine.
#include <QGuiApplication>
#include <QQuickItem>
#include <QQuickWindow>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app_settings.hpp"
#include "app_shell.hpp"
#include "chat_controller.hpp"
#include "demo/demo_model.hpp"
#include "generation_settings.hpp"
#include "model_controller.hpp"

using namespace ravel;

class TestGuiDemo : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

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

  private slots:
    void initTestCase() { qputenv("XDG_CACHE_HOME", dir_.filePath("cache").toUtf8()); }

    void firstRunAnswersOnTheDemoModel() {
        if (demo::find_demo_model().empty()) {
            QSKIP("the demo model (resources/models/ravel-demo-rwkv7.pth) is not in this tree");
        }
        ui::ShellOptions options;
        options.settingsFile = dir_.filePath("settings.ini");  // fresh: no model remembered
        options.databasePath = dir_.filePath("conversations.sqlite");
        ui::AppShell shell(options);
        QVERIFY(shell.start());
        QQuickWindow* window = shell.window();
        QVERIFY(window != nullptr);
        window->resize(1280, 800);
        window->show();
        QVERIFY(QTest::qWaitForWindowExposed(window));
        QTRY_VERIFY_WITH_TIMEOUT(shell.chat()->storageReady(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(shell.model()->loaded(), 60000);
        QVERIFY(shell.model()->errorMessage().isEmpty());
        QVERIFY(shell.model()->demoModel());
        // Not remembered as the user's model: a real one opened later replaces it for good.
        QVERIFY(shell.settings()->modelPath().isEmpty());

        // The window says what this model is and how to open a real one.
        QQuickItem* banner = findItem(window->contentItem(), "demoBanner");
        QVERIFY(banner && banner->isVisible());
        const QString said = findItem(banner, "demoBannerText")->property("text").toString();
        QVERIFY2(said.contains("demo model", Qt::CaseInsensitive) && said.contains(".gguf"),
                 qPrintable(said));
        // Its button opens the file dialog (the Quick dialog needs Qt.labs.folderlistmodel,
        // which tools/install-deps.sh installs; a missing QML module would warn and fail here).
        QTest::failOnWarning(QRegularExpression(QStringLiteral("not installed|is not a type")));
        QQuickItem* open = findItem(banner, "demoOpenModelButton");
        QVERIFY(open && open->isVisible());
        QObject* dialog = window->findChild<QObject*>(QStringLiteral("demoOpenDialog"));
        QVERIFY(dialog != nullptr);
        QMetaObject::invokeMethod(open, "clicked");
        QTRY_VERIFY_WITH_TIMEOUT(dialog->property("visible").toBool(), 5000);
        QMetaObject::invokeMethod(dialog, "reject");
        QTRY_VERIFY_WITH_TIMEOUT(!dialog->property("visible").toBool(), 5000);
        const QString device = shell.model()->info().device;
        QVERIFY2(device.contains("thread") || device.contains("GPU"), qPrintable(device));

        // Out of the box the app decodes greedily on the demo model, as its card recommends
        // for exact answers: nothing is set by hand here.
        QCOMPARE(shell.generation()->temperature(), 0.0);
        QCOMPARE(shell.generation()->presencePenalty(), 0.0);

        QString streamed;
        int updates = 0;
        connect(shell.chat()->messages(), &QAbstractItemModel::dataChanged, this,
                [&](const QModelIndex& from, const QModelIndex&) {
                    if (from.row() != 1) return;
                    ++updates;
                    streamed = from.data(app::MessageListModel::TextRole).toString();
                });
        QQuickItem* input = findItem(window->contentItem(), "composerInput");
        QVERIFY(input && input->isEnabled());
        const QPointF at = input->mapToScene(QPointF(input->width() / 2, input->height() / 2));
        QTest::mouseClick(window, Qt::LeftButton, {}, at.toPoint());
        for (QChar c : QStringLiteral("What is 2+3?")) QTest::keyClick(window, c.toLatin1());
        // The whole reply can take less than one polling interval, so its end is awaited as a
        // signal rather than by watching busy() rise and fall.
        QSignalSpy finished(shell.chat(), &app::ChatController::replyFinished);
        QTest::keyClick(window, Qt::Key_Return);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 60000);
        QVERIFY(!finished.at(0).at(1).toBool());  // not stopped
        QTRY_VERIFY_WITH_TIMEOUT(!shell.chat()->busy(), 5000);
        QVERIFY(shell.chat()->errorMessage().isEmpty());

        auto* messages = shell.chat()->messages();
        QCOMPARE(messages->rowCount(), 2);
        QCOMPARE(messages->data(messages->index(0), app::MessageListModel::TextRole).toString(),
                 QString("What is 2+3?"));
        const QString reply =
            messages->data(messages->index(1), app::MessageListModel::TextRole).toString();
        QVERIFY2(updates >= 1, "the reply was not streamed");
        // "5" as a number of its own, in readable text (not a byte of noise).
        const QRegularExpression five(QStringLiteral("(^|[^0-9])5([^0-9]|$)"));
        QVERIFY2(streamed.contains(five), qPrintable(streamed));
        QVERIFY2(reply.contains(five), qPrintable(reply));
        for (QChar c : reply) QVERIFY2(c.isPrint() || c.isSpace(), qPrintable(reply));
        QCOMPARE(shell.chat()->conversations()->count(), 1);
        shell.shutdown();
    }
};

int main(int argc, char* argv[]) {
    // Offscreen, software-rendered: runs without a display or GPU.
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    if (qEnvironmentVariableIsEmpty("QT_QUICK_BACKEND")) qputenv("QT_QUICK_BACKEND", "software");
    QGuiApplication app(argc, argv);
    TestGuiDemo test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_gui_demo.moc"
