// A deterministic InferenceBackend for controller and worker tests: no model file, replies are
// derived from the request, and timing knobs make streaming, Stop and cancellation observable.
#pragma once

#include <QString>
#include <QThread>
#include <atomic>
#include <stdexcept>

#include "inference_backend.hpp"

namespace ravel::test {

struct FakeBackendKnobs {
    int tokenDelayMs = 1;  // sleep per generated "token" (one character)
    int loadSteps = 20;    // progress reports per load
    int loadStepDelayMs = 5;
    int maxTokens = 100000;  // cap on reply length regardless of settings
    std::atomic<int> generateCalls{0};
    std::atomic<int> lastResumeTurns{-1};  // -1: the last request was replayed from scratch
    std::atomic<int> lastBranch{-1};       // the last request's GenerationRequest::branch
    // Earlier replies in the last request that came with the record the fake made for them.
    std::atomic<int> lastRecordedReplies{-1};
};

class FakeBackend final : public app::InferenceBackend {
  public:
    explicit FakeBackend(FakeBackendKnobs* knobs) : knobs_(knobs) {}

    // The reply the fake gives to a user message (one token per character).
    static QString replyFor(const QString& userText) {
        return QStringLiteral("Echo: ") + userText + QStringLiteral(" — the end.");
    }

    Result<app::ModelInfo> load(const app::LoadRequest& request,
                                const std::function<bool(double)>& progress) override {
        if (request.path.contains(QLatin1String("bad"))) {
            return make_error("the file is not an RWKV model (fake)");
        }
        for (int i = 1; i <= knobs_->loadSteps; ++i) {
            QThread::msleep(knobs_->loadStepDelayMs);
            if (!progress(static_cast<double>(i) / knobs_->loadSteps)) return cancelled_error();
        }
        loaded_ = true;
        app::ModelInfo info;
        info.path = request.path;
        info.format = QStringLiteral("pth");
        info.version = QStringLiteral("7");
        info.tokenizer = QStringLiteral("byte");
        info.device = QStringLiteral("CPU");
        info.layers = 2;
        info.width = 64;
        info.vocab = 256;
        info.parameters = 1234;
        info.stateBytes = 4096;
        return info;
    }

    void unload() override { loaded_ = false; }
    bool loaded() const override { return loaded_; }

    Result<app::GenerationResult> generate(const app::GenerationRequest& request,
                                           const std::function<void(const QString&)>& on_text,
                                           const std::atomic<bool>& stop) override {
        ++knobs_->generateCalls;
        if (request.turns.isEmpty()) return make_error("empty request (fake)");
        const QString user = request.turns.last().text;
        if (user.contains(QLatin1String("fail"))) return make_error("out of memory (fake)");
        // A defect that throws instead of returning an error (the worker must contain it).
        if (user.contains(QLatin1String("throw"))) throw std::runtime_error("boom (fake)");
        app::GenerationResult result;
        const bool resumed =
            !request.snapshot.isEmpty() && request.snapshot == snapshotFor(request.resumeTurns);
        knobs_->lastResumeTurns = resumed ? request.resumeTurns : -1;
        knobs_->lastBranch = request.branch;
        int recorded = 0;
        for (const app::ChatTurn& turn : request.turns) {
            if (turn.role == app::Role::Assistant && turn.reply == recordFor(turn.text)) {
                ++recorded;
            }
        }
        knobs_->lastRecordedReplies = recorded;
        if (resumed) result.resumeMs = 0.5;
        result.promptTokens = static_cast<int>(user.size());
        const QString reply = replyFor(user);
        const int limit = std::min(
            {static_cast<int>(reply.size()), request.sampling.maxTokens, knobs_->maxTokens});
        for (int i = 0; i < limit; ++i) {
            if (stop.load()) {
                result.stopped = true;
                break;
            }
            QThread::msleep(knobs_->tokenDelayMs);
            result.text += reply[i];
            on_text(QString(reply[i]));
            ++result.generatedTokens;
        }
        result.reply = recordFor(result.text);
        result.contextTokens = request.turns.size() * 10 + result.generatedTokens;
        result.stateBytes = 4096;
        if (!result.stopped)
            result.snapshot = snapshotFor(static_cast<int>(request.turns.size()) + 1);
        return result;
    }

    // The record the fake stores with a reply: one "token" per UTF-16 unit of its text.
    static app::ReplyRecord recordFor(const QString& text) {
        app::ReplyRecord record;
        for (const QChar c : text) record.tokens.push_back(c.unicode());
        record.settings = QStringLiteral("{\"fake\":true}");
        return record;
    }

    static QByteArray snapshotFor(int turns) {
        return "fake-snapshot:" + QByteArray::number(turns);
    }

  private:
    FakeBackendKnobs* knobs_;
    bool loaded_ = false;
};

}  // namespace ravel::test
