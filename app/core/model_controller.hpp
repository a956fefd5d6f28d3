// The Model panel's logic: open a file, show progress, cancel, report what went wrong and what
// to do, remember recent models. The load itself runs on the inference thread.
#pragma once

#include <QObject>
#include <QUrl>
#include <QVariantMap>

#include "inference_types.hpp"

namespace ravel::app {

class AppSettings;
class InferenceWorker;

class ModelController : public QObject {
    Q_OBJECT
    Q_PROPERTY(bool loaded READ loaded NOTIFY stateChanged)
    Q_PROPERTY(bool loading READ loading NOTIFY stateChanged)
    Q_PROPERTY(double progress READ progress NOTIFY progressChanged)
    Q_PROPERTY(QString errorMessage READ errorMessage NOTIFY errorChanged)
    Q_PROPERTY(QVariantMap info READ infoMap NOTIFY stateChanged)
    Q_PROPERTY(QString modelName READ modelName NOTIFY stateChanged)
    // The small model bundled with Ravel is loaded (the UI says so and how to open a real one).
    Q_PROPERTY(bool demoModel READ demoModel NOTIFY stateChanged)
    Q_PROPERTY(QString demoModelPath READ demoModelPath CONSTANT)
  public:
    ModelController(InferenceWorker* worker, AppSettings* settings, QObject* parent = nullptr);

    bool loaded() const { return loaded_; }
    bool loading() const { return loading_id_ != 0; }
    double progress() const { return progress_; }
    QString errorMessage() const { return error_; }
    const ModelInfo& info() const { return info_; }
    QVariantMap infoMap() const;
    QString modelName() const;
    bool demoModel() const;
    // The bundled demo model ("" when this installation has none).
    QString demoModelPath() const;

    // Accepts a local path or a file: URL (from a file dialog).
    Q_INVOKABLE void load(const QString& pathOrUrl);
    Q_INVOKABLE void loadDemoModel();
    Q_INVOKABLE void cancelLoad();
    Q_INVOKABLE void unload();
    Q_INVOKABLE void clearError();

  signals:
    void stateChanged();
    void progressChanged();
    void errorChanged();
    // Forwarded to the worker (queued: the worker lives on the inference thread).
    void loadRequested(const ravel::app::LoadRequest& request);
    void unloadRequested();

  private:
    void onProgress(quint64 id, double fraction);
    void onLoaded(quint64 id, const ravel::app::ModelInfo& info);
    void onFailed(quint64 id, const QString& message, bool cancelled);
    void setError(const QString& message);

    InferenceWorker* worker_;
    AppSettings* settings_;
    quint64 next_id_ = 0;
    quint64 loading_id_ = 0;
    double progress_ = 0;
    bool loaded_ = false;
    ModelInfo info_;
    QString error_;
};

}  // namespace ravel::app
