// The only object that calls the engine. It lives on the inference thread; requests arrive as
// queued slot calls carrying values, results leave as queued signals. Stop and cancel are atomic
// watermarks that any thread may raise: a request id at or below the mark is abandoned, so a
// Stop pressed before its request even started still takes effect.
#pragma once

#include <QObject>
#include <atomic>
#include <memory>
#include <mutex>

#include "inference_backend.hpp"
#include "inference_types.hpp"

namespace ravel::app {

class InferenceWorker : public QObject {
    Q_OBJECT
  public:
    explicit InferenceWorker(std::unique_ptr<InferenceBackend> backend, QObject* parent = nullptr);
    ~InferenceWorker() override;

    // Thread-safe: stop generation request `id` (and every earlier one) within one token.
    void requestStop(quint64 id);
    // Thread-safe: cancel load request `id` (and every earlier one) at the next progress report.
    void requestCancelLoad(quint64 id);

  public slots:
    void loadModel(const ravel::app::LoadRequest& request);
    void unloadModel();
    void generate(const ravel::app::GenerationRequest& request);

  signals:
    void loadProgress(quint64 id, double fraction);
    void modelLoaded(quint64 id, const ravel::app::ModelInfo& info);
    void loadFailed(quint64 id, const QString& message, bool cancelled);
    void modelUnloaded();
    void generationStarted(quint64 id);
    void textStreamed(quint64 id, const QString& text);
    void generationFinished(const ravel::app::GenerationResult& result);
    void generationFailed(quint64 id, const QString& message);

  private:
    std::unique_ptr<InferenceBackend> backend_;
    std::atomic<quint64> stop_mark_{0};
    std::atomic<quint64> cancel_mark_{0};
    // The reply being generated and its stop flag (what the engine polls before every token).
    // The mutex makes "raise the mark, then flag the running request if the mark covers it"
    // atomic with "start a request, flagged if the mark already covers it".
    std::mutex running_mutex_;
    quint64 running_id_ = 0;
    std::atomic<bool> running_stop_{false};
};

}  // namespace ravel::app
