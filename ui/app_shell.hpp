// Builds the running app: settings, the inference and storage threads, the controllers, and the
// QML engine showing qrc:/qml/Main.qml. main() and the GUI tests both use it, so the tests drive
// exactly what users run.
#pragma once

#include <QObject>
#include <QQmlApplicationEngine>
#include <QString>
#include <memory>

#include "inference_backend.hpp"

class QQuickWindow;

namespace ravel::app {
class AppSettings;
class ChatController;
class GenerationSettings;
class InferenceHost;
class ModelController;
class StorageHost;
}  // namespace ravel::app

namespace ravel::ui {

class Clipboard;
class Theme;

struct ShellOptions {
    QString settingsFile;  // empty: the platform's usual place
    QString databasePath;  // empty: from the settings
    QString modelPath;     // empty: the last model used, if any
    bool loadLastModel = true;
    // With no model given or remembered, load the bundled demo model (when there is one).
    bool demoModelFallback = true;
    app::BackendFactory backend;  // empty: the engine
};

class AppShell : public QObject {
    Q_OBJECT
  public:
    explicit AppShell(ShellOptions options, QObject* parent = nullptr);
    ~AppShell() override;

    // Loads the QML; false (with the reason on stderr) when the QML failed to load.
    bool start();
    QQuickWindow* window() const;
    QQmlApplicationEngine& engine() { return engine_; }
    app::ChatController* chat() const { return chat_.get(); }
    app::ModelController* model() const { return model_.get(); }
    app::GenerationSettings* generation() const { return generation_.get(); }
    app::AppSettings* settings() const { return settings_.get(); }
    Theme* theme() const { return theme_.get(); }
    // Stops generation and loading, finishes queued writes and joins both threads.
    void shutdown();

  private:
    ShellOptions options_;
    std::unique_ptr<app::AppSettings> settings_;
    std::unique_ptr<app::InferenceHost> inference_;
    std::unique_ptr<app::StorageHost> storage_;
    std::unique_ptr<app::ModelController> model_;
    std::unique_ptr<app::GenerationSettings> generation_;
    std::unique_ptr<app::ChatController> chat_;
    std::unique_ptr<Theme> theme_;
    std::unique_ptr<Clipboard> clipboard_;
    QQmlApplicationEngine engine_;
};

// Loads the QML resources of ravel_ui (needed once per process when linked statically).
void init_resources();

}  // namespace ravel::ui
