#include "screenshots.hpp"

#include <QDeadlineTimer>
#include <QDir>
#include <QGuiApplication>
#include <QQuickWindow>
#include <QTemporaryDir>
#include <QThread>
#include <cstdio>
#include <functional>

#include "app_shell.hpp"
#include "chat_controller.hpp"
#include "generation_settings.hpp"
#include "message_list_model.hpp"
#include "model_controller.hpp"
#include "theme.hpp"

namespace ravel::ui {

namespace {

bool wait_until(const std::function<bool()>& done, int ms) {
    QDeadlineTimer deadline(ms);
    while (!done()) {
        if (deadline.hasExpired()) return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThread::msleep(5);
    }
    return true;
}

void settle(int ms = 300) {
    QDeadlineTimer deadline(ms);
    while (!deadline.hasExpired()) QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
}

bool grab(AppShell& shell, const QString& dir, const QString& name) {
    for (const char* mode : {"light", "dark"}) {
        shell.theme()->setMode(QString::fromLatin1(mode));
        settle();
        const QImage image = shell.window()->grabWindow();
        const QString file = QDir(dir).filePath(QStringLiteral("%1-%2.png").arg(name, mode));
        if (image.isNull() || !image.save(file)) {
            std::fprintf(stderr, "ravel: could not write %s\n", qPrintable(file));
            return false;
        }
        std::printf("%s\n", qPrintable(file));
    }
    return true;
}

}  // namespace

int render_screenshots(const QString& directory, const QString& modelPath) {
    if (!QDir().mkpath(directory)) {
        std::fprintf(stderr, "ravel: cannot create %s\n", qPrintable(directory));
        return 1;
    }
    // A private settings file and database: screenshots never touch the user's conversations.
    // With no --model, the app does what it does on a first run: it opens the demo model.
    QTemporaryDir scratch;
    ShellOptions options;
    options.settingsFile = scratch.filePath(QStringLiteral("settings.ini"));
    options.databasePath = scratch.filePath(QStringLiteral("conversations.sqlite"));
    options.loadLastModel = false;
    options.modelPath = modelPath;
    AppShell shell(options);
    if (!shell.start() || shell.window() == nullptr) return 1;
    QQuickWindow* window = shell.window();
    window->resize(1280, 800);
    window->setProperty("panelIndex", 0);
    if (!wait_until([&] { return shell.chat()->storageReady(); }, 10000)) return 1;
    if (!wait_until([&] { return !shell.model()->loading(); }, 120000) ||
        !shell.model()->loaded()) {
        std::fprintf(stderr, "ravel: no model loaded (%s); pass --model FILE\n",
                     qPrintable(shell.model()->errorMessage()));
        return 1;
    }
    if (!grab(shell, directory, QStringLiteral("welcome"))) return 1;

    if (!shell.model()->demoModel()) {
        shell.generation()->applyPreset(QStringLiteral("Balanced"));
        shell.generation()->setSeed(7);
    }
    shell.generation()->setMaxTokens(400);  // bytes, for the byte-level demo model
    const auto ask = [&](const QString& text) {
        return shell.chat()->send(text) &&
               wait_until([&] { return !shell.chat()->busy(); }, 120000);
    };
    // Questions the demo model was trained to answer (a real model answers them too).
    for (const char* question :
         {"Hello!", "What is 23+45?", "How many centimeters are in 7 meters?", "What is RWKV?"}) {
        if (!ask(QString::fromUtf8(question))) {
            std::fprintf(stderr, "ravel: generation failed: %s\n",
                         qPrintable(shell.chat()->errorMessage()));
            return 1;
        }
    }
    // A second version of the last question, so the ‹ 2/2 › branch control shows.
    auto* messages = shell.chat()->messages();
    const qint64 last_user =
        messages->data(messages->index(messages->rowCount() - 2), app::MessageListModel::IdRole)
            .toLongLong();
    shell.chat()->editMessage(last_user, QStringLiteral("What is Ravel?"));
    wait_until([&] { return !shell.chat()->busy(); }, 120000);
    if (!grab(shell, directory, QStringLiteral("chat"))) return 1;
    window->setProperty("panelIndex", 1);
    if (!grab(shell, directory, QStringLiteral("sampling"))) return 1;
    shell.shutdown();
    return 0;
}

}  // namespace ravel::ui
