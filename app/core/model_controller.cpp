#include "model_controller.hpp"

#include <QDir>
#include <QFileInfo>
#include <QLocale>

#include "app_settings.hpp"
#include "demo/demo_model.hpp"
#include "inference_worker.hpp"

namespace ravel::app {

ModelController::ModelController(InferenceWorker* worker, AppSettings* settings, QObject* parent)
    : QObject(parent), worker_(worker), settings_(settings) {
    connect(this, &ModelController::loadRequested, worker_, &InferenceWorker::loadModel,
            Qt::QueuedConnection);
    connect(this, &ModelController::unloadRequested, worker_, &InferenceWorker::unloadModel,
            Qt::QueuedConnection);
    connect(worker_, &InferenceWorker::loadProgress, this, &ModelController::onProgress,
            Qt::QueuedConnection);
    connect(worker_, &InferenceWorker::modelLoaded, this, &ModelController::onLoaded,
            Qt::QueuedConnection);
    connect(worker_, &InferenceWorker::loadFailed, this, &ModelController::onFailed,
            Qt::QueuedConnection);
}

QVariantMap ModelController::infoMap() const {
    if (!loaded_) return {};
    const QLocale locale;
    return {{QStringLiteral("path"), info_.path},
            {QStringLiteral("name"), modelName()},
            {QStringLiteral("format"), info_.format},
            {QStringLiteral("version"), info_.version},
            {QStringLiteral("layers"), info_.layers},
            {QStringLiteral("width"), info_.width},
            {QStringLiteral("vocab"), info_.vocab},
            {QStringLiteral("parameters"), locale.toString(info_.parameters)},
            {QStringLiteral("tokenizer"), info_.tokenizer},
            {QStringLiteral("device"), info_.device},
            {QStringLiteral("weights"), info_.weights},
            {QStringLiteral("deviceNote"), info_.deviceNote},
            {QStringLiteral("stateSize"), locale.formattedDataSize(info_.stateBytes)},
            {QStringLiteral("loadMs"), qRound(info_.loadMs)}};
}

QString ModelController::modelName() const {
    if (!loaded_) return {};
    const QFileInfo file(info_.path);
    // Shared test models are all called model.pth; the folder names them.
    return file.completeBaseName() == QLatin1String("model")
               ? file.dir().dirName() + QLatin1Char('/') + file.fileName()
               : file.fileName();
}

bool ModelController::demoModel() const {
    return loaded_ && demo::is_demo_model(info_.path.toStdString());
}

QString ModelController::demoModelPath() const {
    return QString::fromStdString(demo::find_demo_model().string());
}

void ModelController::loadDemoModel() {
    const QString path = demoModelPath();
    if (path.isEmpty()) {
        setError(
            tr("This installation has no demo model. Open an RWKV model file with Open "
               "model."));
        return;
    }
    load(path);
}

void ModelController::load(const QString& pathOrUrl) {
    const QUrl url(pathOrUrl);
    const QString path = url.isLocalFile() ? url.toLocalFile() : pathOrUrl;
    const QFileInfo file(path);
    if (path.isEmpty() || !file.exists()) {
        setError(tr("The model file \"%1\" does not exist. Choose another file with Open model.")
                     .arg(path));
        return;
    }
    if (!file.isFile() || !file.isReadable()) {
        setError(tr("The model file \"%1\" cannot be read. Check its permissions or choose "
                    "another file.")
                     .arg(path));
        return;
    }
    if (loading_id_ != 0) worker_->requestCancelLoad(loading_id_);
    clearError();
    loading_id_ = ++next_id_;
    progress_ = 0;
    emit progressChanged();
    emit stateChanged();
    emit loadRequested(LoadRequest{loading_id_, file.absoluteFilePath(), settings_->threads(),
                                   settings_->device(), settings_->weights()});
}

void ModelController::cancelLoad() {
    if (loading_id_ != 0) worker_->requestCancelLoad(loading_id_);
}

void ModelController::unload() {
    cancelLoad();
    emit unloadRequested();
    loaded_ = false;
    info_ = {};
    emit stateChanged();
}

void ModelController::clearError() {
    if (error_.isEmpty()) return;
    error_.clear();
    emit errorChanged();
}

void ModelController::onProgress(quint64 id, double fraction) {
    if (id != loading_id_) return;
    progress_ = fraction;
    emit progressChanged();
}

void ModelController::onLoaded(quint64 id, const ModelInfo& info) {
    if (id != loading_id_) return;
    loading_id_ = 0;
    loaded_ = true;
    info_ = info;
    // The demo model is what Ravel falls back to anyway; remembering it would hide that a real
    // model was never chosen (and its path changes when Ravel moves).
    if (!demo::is_demo_model(info.path.toStdString())) {
        settings_->setModelPath(info.path);
        settings_->addRecentModel(info.path);
    }
    emit stateChanged();
}

void ModelController::onFailed(quint64 id, const QString& message, bool cancelled) {
    if (id != loading_id_) return;
    loading_id_ = 0;
    progress_ = 0;
    emit progressChanged();
    emit stateChanged();
    // Cancelling is what the user asked for, not an error. The previous model stays loaded.
    if (!cancelled) setError(message);
}

void ModelController::setError(const QString& message) {
    error_ = message;
    emit errorChanged();
}

}  // namespace ravel::app
