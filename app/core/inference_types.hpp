// Value types that cross the thread boundary between the GUI and the inference worker. They are
// copied into every queued signal, so nothing on the worker thread ever reads GUI-owned state.
#pragma once

#include <QByteArray>
#include <QList>
#include <QMetaType>
#include <QString>
#include <cstdint>
#include <vector>

#include "sampling_settings.hpp"

namespace ravel::app {

enum class Role { System, User, Assistant };
QString role_name(Role role);  // "system", "user", "assistant" (stable: stored in the database)
Role role_from_name(const QString& name);

// How an assistant reply was made, so its state can be rebuilt without its snapshot: the ids
// fed to the state (end-of-text excluded; tokenizing the text again would not give them back)
// and the reply settings JSON ravel_conversation reads (sampler settings, how it stopped, where
// its random generator started). Empty for user messages and for replies stored before Ravel
// kept them, which are tokenized again from their text.
struct ReplyRecord {
    std::vector<std::int32_t> tokens;
    QString settings;

    bool empty() const { return tokens.empty(); }
    bool operator==(const ReplyRecord&) const = default;
};

struct ChatTurn {
    Role role = Role::User;
    QString text;
    ReplyRecord reply;
};

struct LoadRequest {
    quint64 id = 0;
    QString path;
    int threads = 0;  // 0: default_thread_count(), one per physical core this process may use
    QString device;   // "auto" (a GPU when one can be used, else the CPU), "cpu", "cuda[:N]"
    // "stored" or empty: the matrices stay in the type the file holds them in; otherwise the
    // type to convert them to at load ("f16", "q8_0", "q4_0", ...).
    QString weights;
};

struct ModelInfo {
    QString path;
    QString format;      // "pth", "safetensors", "gguf"
    QString version;     // RWKV architecture, e.g. "7"
    QString tokenizer;   // "byte", "world", "neox"
    QString device;      // "CPU (8 threads, avx2)" or the GPU
    QString deviceNote;  // why the model runs on the CPU although a GPU was wanted; or empty
    QString weights;     // the type the matrices are held in, e.g. "q4_0"
    int layers = 0;
    int width = 0;
    int vocab = 0;
    qint64 parameters = 0;
    qint64 stateBytes = 0;
    double loadMs = 0;
};

// Everything one reply needs, copied in. `turns` is the branch from the first message to the
// user message being answered; the first `resumeTurns` of them are already inside `snapshot`
// (an opaque resume record made by the same backend), so only the rest must be processed.
struct GenerationRequest {
    quint64 id = 0;
    QString systemPrompt;
    QList<ChatTurn> turns;
    QByteArray snapshot;
    int resumeTurns = 0;
    SamplingSettings sampling;
    // How many replies to the last user message exist already: 0 for a first reply, 1 and up
    // for a regenerated one. A regenerated reply must not draw what the first one drew from the
    // same snapshot: its generator is seeded with seed + branch (a fixed seed stays
    // reproducible; -1 draws a new seed anyway) and the snapshot's penalty table is kept, as in
    // the terminal chat's /regenerate.
    int branch = 0;
};

struct GenerationResult {
    quint64 id = 0;
    QString text;
    bool stopped = false;  // the user pressed Stop; `text` holds what came before
    int promptTokens = 0;  // tokens processed before the reply
    int generatedTokens = 0;
    double promptTokensPerSecond = 0;
    double generationTokensPerSecond = 0;
    qint64 contextTokens = 0;  // tokens in the conversation after the reply
    qint64 stateBytes = 0;
    double resumeMs = -1;  // >= 0 when the reply continued from `snapshot`
    QByteArray snapshot;   // resume record after the reply (empty when stopped)
    ReplyRecord reply;     // stored with the reply (also when stopped)
};

}  // namespace ravel::app

Q_DECLARE_METATYPE(ravel::app::ChatTurn)
Q_DECLARE_METATYPE(ravel::app::LoadRequest)
Q_DECLARE_METATYPE(ravel::app::ModelInfo)
Q_DECLARE_METATYPE(ravel::app::GenerationRequest)
Q_DECLARE_METATYPE(ravel::app::GenerationResult)
