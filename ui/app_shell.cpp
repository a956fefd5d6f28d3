#include "app_shell.hpp"

#include <QQmlContext>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QtQml>

#include "app_settings.hpp"
#include "chat_controller.hpp"
#include "generation_settings.hpp"
#include "inference_host.hpp"
#include "model_controller.hpp"
#include "storage_worker.hpp"
#include "theme.hpp"

static void ravel_init_qml_resources() {
    Q_INIT_RESOURCE(ravel_qml);
}

namespace ravel::ui {

void init_resources() {
    ravel_init_qml_resources();
}

AppShell::AppShell(ShellOptions options, QObject* parent)
    : QObject(parent), options_(std::move(options)) {
    init_resources();
    settings_ = std::make_unique<app::AppSettings>(options_.settingsFile);
    auto backend = options_.backend ? options_.backend() : app::make_engine_backend();
    inference_ = std::make_unique<app::InferenceHost>(std::move(backend));
    const QString db =
        options_.databasePath.isEmpty() ? settings_->databasePath() : options_.databasePath;
    storage_ = std::make_unique<app::StorageHost>([db] { return app::open_sqlite_storage(db); });
    model_ = std::make_unique<app::ModelController>(inference_->worker(), settings_.get());
    generation_ = std::make_unique<app::GenerationSettings>(settings_.get());
    chat_ = std::make_unique<app::ChatController>(inference_->worker(), storage_->worker(),
                                                  model_.get(), generation_.get());
    theme_ = std::make_unique<Theme>();
    theme_->setMode(settings_->theme());
    connect(theme_.get(), &Theme::changed, this, [this] { settings_->setTheme(theme_->mode()); });
    clipboard_ = std::make_unique<Clipboard>();
}

AppShell::~AppShell() {
    shutdown();
}

bool AppShell::start() {
    // Fusion follows the palette QML sets, so light and dark both look native enough.
    if (QQuickStyle::name().isEmpty()) QQuickStyle::setStyle(QStringLiteral("Fusion"));
    // Context properties, not registered singletons: each shell (the GUI tests start several in
    // one process) gives its own engine its own objects.
    QQmlContext* context = engine_.rootContext();
    context->setContextProperty(QStringLiteral("Chat"), chat_.get());
    context->setContextProperty(QStringLiteral("Models"), model_.get());
    context->setContextProperty(QStringLiteral("Sampling"), generation_.get());
    context->setContextProperty(QStringLiteral("AppSettings"), settings_.get());
    context->setContextProperty(QStringLiteral("Theme"), theme_.get());
    context->setContextProperty(QStringLiteral("Clipboard"), clipboard_.get());
    engine_.load(QUrl(QStringLiteral("qrc:/qml/Main.qml")));
    if (engine_.rootObjects().isEmpty()) return false;

    QString model = options_.modelPath;
    if (model.isEmpty() && options_.loadLastModel) model = settings_->modelPath();
    if (model.isEmpty() && options_.demoModelFallback) model = model_->demoModelPath();
    if (!model.isEmpty()) model_->load(model);
    return true;
}

QQuickWindow* AppShell::window() const {
    const auto roots = engine_.rootObjects();
    return roots.isEmpty() ? nullptr : qobject_cast<QQuickWindow*>(roots.first());
}

void AppShell::shutdown() {
    if (!chat_) return;
    // QML first (it binds to the controllers), then the controllers, then the threads.
    for (QObject* root : engine_.rootObjects()) delete root;
    chat_->commitPendingDelete();
    inference_->shutdown();
    // A reply stopped by the shutdown has posted its text and its end to the controller; they
    // are handled now, so it is saved like a reply stopped by the user, not dropped.
    QCoreApplication::sendPostedEvents(chat_.get());
    chat_.reset();
    storage_->shutdown();
    settings_->sync();
}

}  // namespace ravel::ui
