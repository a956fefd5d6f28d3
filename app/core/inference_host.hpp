// Owns the inference thread and its worker. Destroying the host stops any reply and load in
// progress and joins the thread, so the app can close while a model is generating.
#pragma once

#include <QObject>
#include <QThread>

#include "inference_backend.hpp"
#include "inference_worker.hpp"

namespace ravel::app {

class InferenceHost : public QObject {
    Q_OBJECT
  public:
    explicit InferenceHost(std::unique_ptr<InferenceBackend> backend, QObject* parent = nullptr);
    ~InferenceHost() override;

    InferenceWorker* worker() const { return worker_; }
    // Stops everything in flight and joins the thread; safe to call twice.
    void shutdown();

  private:
    QThread thread_;
    InferenceWorker* worker_ = nullptr;
};

}  // namespace ravel::app
