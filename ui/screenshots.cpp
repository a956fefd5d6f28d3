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
    if (modelPath.isEmpty()) {
        std::fprintf(stderr, "ravel: --screenshot needs --model FILE\n");
        return 2;
    }
    if (!QDir().mkpath(directory)) {
        std::fprintf(stderr, "ravel: cannot create %s\n", qPrintable(directory));
        return 1;
    }
    // A private settings file and database: screenshots never touch the user's conversations.
    QTemporaryDir scratch;
    ShellOptions options;
    options.settingsFile = scratch.filePath(QStringLiteral("settings.ini"));
    options.databasePath = scratch.filePath(QStringLiteral("conversations.sqlite"));
    options.loadLastModel = false;
    AppShell shell(options);
    if (!shell.start() || shell.window() == nullptr) return 1;
    QQuickWindow* window = shell.window();
    window->resize(1280, 800);
    window->setProperty("panelIndex", 0);
    if (!wait_until([&] { return shell.chat()->storageReady(); }, 10000)) return 1;
    if (!grab(shell, directory, QStringLiteral("welcome"))) return 1;

    shell.model()->load(modelPath);
    if (!wait_until([&] { return !shell.model()->loading(); }, 120000) ||
        !shell.model()->loaded()) {
        std::fprintf(stderr, "ravel: the model did not load: %s\n",
                     qPrintable(shell.model()->errorMessage()));
        return 1;
    }
    shell.generation()->applyPreset(QStringLiteral("Balanced"));
    shell.generation()->setSeed(7);
    shell.generation()->setMaxTokens(120);
    const auto ask = [&](const QString& text) {
        return shell.chat()->send(text) &&
               wait_until([&] { return !shell.chat()->busy(); }, 120000);
    };
    if (!ask(QStringLiteral("Tell me a short story about a fox in the snow.")) ||
        !ask(QStringLiteral("What happened next?"))) {
        std::fprintf(stderr, "ravel: generation failed: %s\n",
                     qPrintable(shell.chat()->errorMessage()));
        return 1;
    }
    // A second version of the last reply, so the ‹ 2/2 › branch control shows.
    shell.chat()->regenerate();
    wait_until([&] { return !shell.chat()->busy(); }, 120000);
    if (!grab(shell, directory, QStringLiteral("chat"))) return 1;
    window->setProperty("panelIndex", 1);
    if (!grab(shell, directory, QStringLiteral("sampling"))) return 1;
    shell.shutdown();
    return 0;
}

}  // namespace ravel::ui
