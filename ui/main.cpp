// The desktop app: parses the command line and hands over to AppShell.
#include <QCommandLineParser>
#include <QGuiApplication>
#include <QQuickWindow>

#include "app_shell.hpp"
#include "screenshots.hpp"

int main(int argc, char* argv[]) {
    QGuiApplication app(argc, argv);
    QGuiApplication::setOrganizationName(QStringLiteral("Ravel"));
    QGuiApplication::setApplicationName(QStringLiteral("Ravel"));
    QGuiApplication::setApplicationVersion(QStringLiteral(RAVEL_VERSION));
    QGuiApplication::setDesktopFileName(QStringLiteral("org.ravel.Ravel"));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QCoreApplication::translate("main", "Chat with local RWKV language models."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption model(QStringList{"m", "model"},
                                   QCoreApplication::translate("main", "Model file to load."),
                                   QStringLiteral("FILE"));
    const QCommandLineOption db(QStringLiteral("db"),
                                QCoreApplication::translate("main", "Conversation database."),
                                QStringLiteral("FILE"));
    const QCommandLineOption screenshot(
        QStringLiteral("screenshot"),
        QCoreApplication::translate("main",
                                    "Render the main screens, light and dark, into DIR as PNG "
                                    "files and exit (on --model, else the demo model)."),
        QStringLiteral("DIR"));
    parser.addOptions({model, db, screenshot});
    parser.process(app);

    if (parser.isSet(screenshot)) {
        return ravel::ui::render_screenshots(parser.value(screenshot), parser.value(model));
    }
    ravel::ui::ShellOptions options;
    options.modelPath = parser.value(model);
    options.databasePath = parser.value(db);
    ravel::ui::AppShell shell(options);
    if (!shell.start()) return 1;
    QObject::connect(&app, &QGuiApplication::aboutToQuit, &shell, &ravel::ui::AppShell::shutdown);
    return app.exec();
}
