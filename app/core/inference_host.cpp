#include "inference_host.hpp"

#include <limits>

namespace ravel::app {

void register_metatypes();

InferenceHost::InferenceHost(std::unique_ptr<InferenceBackend> backend, QObject* parent)
    : QObject(parent), worker_(new InferenceWorker(std::move(backend))) {
    register_metatypes();
    thread_.setObjectName(QStringLiteral("ravel-inference"));
    worker_->moveToThread(&thread_);
    thread_.start();
}

InferenceHost::~InferenceHost() {
    shutdown();
}

void InferenceHost::shutdown() {
    if (worker_ == nullptr) return;
    constexpr quint64 all = std::numeric_limits<quint64>::max();
    worker_->requestStop(all);
    worker_->requestCancelLoad(all);
    thread_.quit();
    thread_.wait();
    // The thread has finished, so no event for the worker can still be running.
    delete worker_;
    worker_ = nullptr;
}

void register_metatypes() {
    qRegisterMetaType<ravel::app::ChatTurn>();
    qRegisterMetaType<ravel::app::LoadRequest>();
    qRegisterMetaType<ravel::app::ModelInfo>();
    qRegisterMetaType<ravel::app::GenerationRequest>();
    qRegisterMetaType<ravel::app::GenerationResult>();
    qRegisterMetaType<ravel::app::SamplingSettings>();
}

}  // namespace ravel::app
