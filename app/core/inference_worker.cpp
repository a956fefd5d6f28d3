#include "inference_worker.hpp"

#include <QElapsedTimer>
#include <new>
#include <string>

#include "stream_coalescer.hpp"

namespace ravel::app {

namespace {

void raise_mark(std::atomic<quint64>& mark, quint64 id) {
    quint64 current = mark.load();
    while (current < id && !mark.compare_exchange_weak(current, id)) {
    }
}

// The backend returns errors as values; an exception that gets out anyway (out of memory, a
// defect) becomes one too, instead of unwinding through Qt's event loop and ending the app with
// the user's conversation.
template <class F>
auto guarded(F&& call) -> decltype(call()) {
    try {
        return call();
    } catch (const std::bad_alloc&) {
        return make_error("out of memory");
    } catch (const std::exception& e) {
        return make_error(std::string("internal error: ") + e.what());
    }
}

}  // namespace

InferenceWorker::InferenceWorker(std::unique_ptr<InferenceBackend> backend, QObject* parent)
    : QObject(parent), backend_(std::move(backend)) {}

InferenceWorker::~InferenceWorker() = default;

void InferenceWorker::requestStop(quint64 id) {
    const std::lock_guard lock(running_mutex_);
    raise_mark(stop_mark_, id);
    if (running_id_ != 0 && running_id_ <= id) running_stop_.store(true);
}

void InferenceWorker::requestCancelLoad(quint64 id) {
    raise_mark(cancel_mark_, id);
}

void InferenceWorker::loadModel(const LoadRequest& request) {
    if (cancel_mark_.load() >= request.id) {
        emit loadFailed(request.id, tr("Loading was cancelled."), true);
        return;
    }
    // Progress is reported at most every ~30 ms, like streamed text.
    QElapsedTimer since_report;
    auto progress = [&](double fraction) {
        if (cancel_mark_.load() >= request.id) return false;
        if (!since_report.isValid() || since_report.elapsed() >= 33 || fraction >= 1.0) {
            since_report.start();
            emit loadProgress(request.id, fraction);
        }
        return true;
    };
    auto result = guarded([&] { return backend_->load(request, progress); });
    if (!result.ok()) {
        emit loadFailed(request.id,
                        result.cancelled() ? tr("Loading was cancelled.")
                                           : QString::fromStdString(result.message()),
                        result.cancelled());
        return;
    }
    emit loadProgress(request.id, 1.0);
    emit modelLoaded(request.id, result.value());
}

void InferenceWorker::unloadModel() {
    backend_->unload();
    emit modelUnloaded();
}

void InferenceWorker::generate(const GenerationRequest& request) {
    if (!backend_->loaded()) {
        emit generationFailed(request.id,
                              tr("No model is loaded. Open a model file in the Model panel."));
        return;
    }
    emit generationStarted(request.id);
    StreamCoalescer coalescer;
    auto on_text = [&](const QString& piece) {
        if (coalescer.add(piece)) emit textStreamed(request.id, coalescer.take());
    };
    {
        const std::lock_guard lock(running_mutex_);
        running_id_ = request.id;
        running_stop_.store(stop_mark_.load() >= request.id);
    }
    auto result = guarded([&] { return backend_->generate(request, on_text, running_stop_); });
    {
        const std::lock_guard lock(running_mutex_);
        running_id_ = 0;
    }
    if (!coalescer.empty()) emit textStreamed(request.id, coalescer.take());
    if (!result.ok()) {
        emit generationFailed(request.id, QString::fromStdString(result.message()));
        return;
    }
    GenerationResult out = std::move(result).value();
    out.id = request.id;
    emit generationFinished(out);
}

}  // namespace ravel::app
