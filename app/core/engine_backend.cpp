// The engine-backed InferenceBackend: loads a model and its tokenizer, brings a Session to the
// point a reply starts from (a reply's snapshot, the cached state after the system prompt, or
// the beginning), feeds the new turn and lets ravel::generate() -- the same generator
// `ravel-cli chat` uses -- write the reply. Runs only on the inference thread.
//
// Prompts are built exactly as ravel-cli's ChatLoop builds them (system block, then one
// next_turn() per user message), so the same seed, settings and history give the same reply in
// both. A reply that did not end at the turn separator gets the separator fed before its
// snapshot is taken: the state then always ends at a turn boundary, which is what next_turn()
// would have prepended anyway (no vocabulary token spans "\n\n" and a following letter).
//
// Without a snapshot, earlier replies are rebuilt from their ReplyRecord: the ids generation fed
// (as a prompt, so at prompt speed) and their sampler settings, so the penalty table and the
// random generator end where generation left them and the next reply is the one the snapshot
// would have given. Replies without a record (stored by older versions, imported) are tokenized
// again from their text.
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QRandomGenerator>
#include <algorithm>
#include <cctype>
#include <list>
#include <thread>
#include <vector>

#include "conversation/reply.hpp"
#include "inference_backend.hpp"
#include "ravel/chat_template.hpp"
#include "ravel/device.hpp"
#include "ravel/generator.hpp"
#include "ravel/machine.hpp"
#include "ravel/model.hpp"
#include "ravel/model_fingerprint.hpp"
#include "ravel/resume_record.hpp"
#include "ravel/sampler.hpp"
#include "ravel/session.hpp"
#include "ravel/tokenizer.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::app {

namespace {

constexpr int kPromptChunk = kDefaultPromptChunk;  // as ravel-cli chat and bench
constexpr std::size_t kSystemCache = 4;            // system prompts whose state is kept

std::string utf8(const QString& s) {
    return s.toStdString();
}

// At most `bytes` bytes of `s`, never ending inside a character: a stop sequence cut in the
// middle of one could never match, and would not be UTF-8 where it is stored.
std::string utf8_prefix(std::string s, std::size_t bytes) {
    if (s.size() <= bytes) return s;
    std::size_t end = bytes;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    s.resize(end);
    return s;
}

SamplerSettings sampler_settings(const SamplingSettings& s, std::uint64_t seed) {
    SamplerSettings out;
    const SamplingSettings c = s.clamped();
    out.temperature = static_cast<float>(c.temperature);
    out.top_k = c.topK;
    out.top_p = static_cast<float>(std::clamp(c.topP, 0.001, 1.0));
    out.min_p = static_cast<float>(std::clamp(c.minP, 0.0, 0.99));
    out.presence_penalty = static_cast<float>(c.presencePenalty);
    out.frequency_penalty = static_cast<float>(c.frequencyPenalty);
    out.penalty_decay = static_cast<float>(c.penaltyDecay);
    out.max_tokens = c.maxTokens;
    out.seed = seed;
    for (const QString& line : c.stopSequences.split(QLatin1Char('\n'), Qt::SkipEmptyParts)) {
        if (out.stop_sequences.size() < 32)
            out.stop_sequences.push_back(utf8_prefix(utf8(line), 256));
    }
    return out;
}

// The options every reply is generated with; a rebuilt reply must be replayed with the same.
GenerateOptions reply_options(const std::atomic<bool>& stop) {
    GenerateOptions options;
    options.chunk_size = kPromptChunk;
    options.cancel = &stop;
    options.stop_sequences = {std::string(ChatTemplate::kReplyStop)};
    return options;
}

int resolve_threads(int requested) {
    return requested > 0 ? requested : default_thread_count();
}

// "CPU (8 threads, avx2)" or the GPU the model was placed on.
QString device_label(const Model& model, int threads) {
    const QString device = QString::fromStdString(model.device());
    if (device.startsWith(QLatin1String("cuda"))) {
        // "NVIDIA H200 (cuda:0, 140 GiB)" when the driver names it.
        auto choice = parse_device(model.device());
        auto gpus = cuda_devices();
        if (choice && gpus) {
            for (const GpuDevice& gpu : *gpus) {
                if (gpu.index != choice->index) continue;
                const double gib = static_cast<double>(gpu.total_bytes) / (1024.0 * 1024 * 1024);
                return QCoreApplication::translate("Engine", "%1 (%2, %3 GiB)")
                    .arg(QString::fromStdString(gpu.name), device)
                    .arg(gib, 0, 'f', 0);
            }
        }
        return QCoreApplication::translate("Engine", "CUDA GPU (%1)").arg(device);
    }
    const QString isa = QString::fromStdString(cpu_kernel_isa());
    return threads == 1 ? QCoreApplication::translate("Engine", "CPU (1 thread, %1)").arg(isa)
                        : QCoreApplication::translate("Engine", "CPU (%1 threads, %2)")
                              .arg(threads)
                              .arg(isa);
}

// The LoadOptions::device to ask for. "auto" asks for the GPU; the engine falls back to the CPU
// and says why when there is none.
std::string requested_device(const QString& setting) {
    const QString d = setting.trimmed().toLower();
    if (d.isEmpty() || d == QLatin1String("auto")) return "cuda";
    return d.toStdString();
}

class EngineBackend final : public InferenceBackend {
  public:
    ravel::Result<ModelInfo> load(const LoadRequest& request,
                                  const std::function<bool(double)>& progress) override {
        QElapsedTimer timer;
        timer.start();
        const std::filesystem::path path = request.path.toStdString();
        auto file = WeightFile::open(path);
        if (!file) return file.error();
        // The fingerprint before the weights: a GGUF's K-quant tensors are re-encoded as they
        // are hashed, and the load then copies those re-encodings instead of making them again
        // (see compute_fingerprint). On a cache miss the hash reads every byte, as the load
        // does, so it takes about half of the progress; on a hit it reports none and the load
        // takes all of it.
        auto detected = detect_config(*file);
        if (!detected) return detected.error();
        FingerprintCache cache(FingerprintCache::default_path());
        double hashed = 0.0;  // the progress the hash took
        auto fingerprint = cache.get_or_compute(*file, *detected, [&](double f) {
            hashed = 0.45 * f;
            return progress(hashed);
        });
        if (!fingerprint) return fingerprint.error();
        LoadOptions options;
        options.progress = [&](float f) { return progress(hashed + (0.9 - hashed) * f); };
        options.device = requested_device(request.device);
        if (!request.weights.isEmpty() && request.weights != QLatin1String("stored")) {
            const auto type = dtype_from_name(request.weights.toStdString());
            if (!type) {
                return make_error("unknown weight type '" + request.weights.toStdString() +
                                  "' (stored, f32, f16, bf16, q8_0, q5_1, q4_0)");
            }
            options.weight_type = *type;
        }
        auto model = Model::from_file(*file, options);
        QString fallback_note;
        if (!model && !model.cancelled() && options.device != "cpu" &&
            (request.device.isEmpty() || request.device == QLatin1String("auto"))) {
            // "auto" never fails for want of a GPU: the CPU is always there.
            fallback_note =
                QStringLiteral("running on the CPU: ") + QString::fromStdString(model.message());
            options.device = "cpu";
            model = Model::from_file(*file, options);
        }
        if (!model) return model.error();
        const ModelConfig& config = (*model)->config();

        auto kind = tokenizer_kind_for_vocab(std::nullopt, config.n_vocab);
        if (!kind) {
            return make_error("Ravel does not know which tokenizer a model with a vocabulary of " +
                              std::to_string(config.n_vocab) +
                              " tokens uses. Supported: 65536 (World), 50277 (GPT-NeoX), 256 "
                              "(bytes).");
        }
        TokenizerSearch search;
        search.model_file = path;
        search.dirs = default_tokenizer_dirs(
            QCoreApplication::instance()
                ? std::filesystem::path(QCoreApplication::applicationDirPath().toStdString())
                : std::filesystem::path());
        auto tokenizer = load_tokenizer(*kind, search);
        if (!tokenizer) return tokenizer.error();
        if (!progress(1.0)) return cancelled_error();

        // Success: replace the previous model only now.
        model_ = std::move(model).value();
        tokenizer_ = std::move(tokenizer).value();
        exempt_ = penalty_exempt_mask(*tokenizer_);
        fingerprint_ = fingerprint_for_runtime(*fingerprint, model_->weight_type());
        chat_ = ChatTemplate(*kind == TokenizerKind::NeoX ? ChatTemplateKind::Raven
                                                          : ChatTemplateKind::World);
        threads_ = resolve_threads(request.threads);
        system_cache_.clear();

        ModelInfo info;
        info.path = request.path;
        info.format = QString::fromUtf8(file_format_name(file->format()).data());
        info.version = QString::fromUtf8(arch_name(config.arch).data());
        info.tokenizer = QString::fromUtf8(tokenizer_->kind_name().data());
        info.device = device_label(*model_, threads_);
        info.weights = QString::fromUtf8(dtype_name(model_->weight_type()).data());
        info.deviceNote = model_->device_note().empty()
                              ? fallback_note
                              : QString::fromStdString(model_->device_note());
        info.layers = config.n_layer;
        info.width = config.n_embd;
        info.vocab = config.n_vocab;
        info.parameters = config.n_params;
        info.stateBytes = static_cast<qint64>(config.state_floats() * sizeof(float));
        info.loadMs = static_cast<double>(timer.nsecsElapsed()) / 1e6;
        return info;
    }

    void unload() override {
        system_cache_.clear();
        model_.reset();
        tokenizer_.reset();
        exempt_.reset();
    }

    bool loaded() const override { return model_ != nullptr; }

    ravel::Result<GenerationResult> generate(const GenerationRequest& request,
                                             const std::function<void(const QString&)>& on_text,
                                             const std::atomic<bool>& stop) override {
        if (!model_) return make_error("No model is loaded.");
        GenerationResult result;
        const std::uint64_t seed = request.sampling.seed >= 0
                                       ? static_cast<std::uint64_t>(request.sampling.seed) +
                                             static_cast<std::uint64_t>(std::max(0, request.branch))
                                       : QRandomGenerator::global()->generate64();
        const SamplerSettings settings = sampler_settings(request.sampling, seed);
        if (auto ok = settings.validate(); !ok) return ok.error();
        Session session(model_, SessionOptions{threads_});
        Sampler sampler(settings);
        sampler.set_penalty_exempt(exempt_);

        // Where the reply starts from: a reply's snapshot, the state after the system prompt,
        // or the beginning. Every starting point ends at a turn boundary.
        int first_turn = 0;
        double system_ms = 0;
        QElapsedTimer timer;
        timer.start();
        if (!request.snapshot.isEmpty() && request.resumeTurns > 0 &&
            request.resumeTurns <= request.turns.size() &&
            resume(request, settings, session, sampler)) {
            first_turn = request.resumeTurns;
            result.resumeMs = static_cast<double>(timer.nsecsElapsed()) / 1e6;
        } else if (const std::string system = chat_.system_block(utf8(request.systemPrompt));
                   !system.empty()) {
            if (const Session* cached = cached_system(system)) {
                session = *cached;
                result.resumeMs = static_cast<double>(timer.nsecsElapsed()) / 1e6;
            } else {
                timer.restart();
                const auto tokens = tokenizer_->encode(system);
                FeedOptions feed;
                feed.chunk_size = kPromptChunk;
                feed.cancel = &stop;
                if (auto fed = session.feed(tokens, feed); !fed) {
                    if (!fed.cancelled()) return fed.error();
                    result.stopped = true;
                    return result;
                }
                result.promptTokens += static_cast<int>(tokens.size());
                system_ms = static_cast<double>(timer.nsecsElapsed()) / 1e6;
                remember_system(system, session);
            }
        }
        // The turns after the starting point, as one prompt; earlier replies bring the sampler
        // along as they go.
        std::vector<std::int32_t> tokens;
        for (qsizetype i = first_turn; i < request.turns.size(); ++i) {
            const ChatTurn& turn = request.turns[i];
            if (turn.role == Role::Assistant) {
                append(tokens, rebuild_reply(turn, settings, sampler));
            } else {
                const std::string text = utf8(turn.text);
                append(tokens,
                       tokenizer_->encode(turn.role == Role::User ? chat_.next_turn(text, true)
                                                                  : chat_.system_block(text)));
            }
        }
        if (auto restored = sampler.update_settings(settings); !restored) return restored.error();
        // The snapshot's generator would draw the first reply again; its penalty table (what
        // the conversation has said so far) stays, as in ravel-cli's /regenerate.
        if (request.branch > 0) sampler.set_rng(Xoshiro256(seed));
        const Xoshiro256 rng_at_start = sampler.rng();

        // The new turn and the reply: ravel::generate(), as ravel-cli chat calls it. `stop` is
        // checked between prompt chunks and before every token. What streams is what the
        // reader sees: the space the model writes after "Assistant:" is dropped.
        const GenerateOptions options = reply_options(stop);
        bool started = false;
        const PieceCallback shown = [&](std::string_view piece) {
            if (!started) {
                const std::size_t first = piece.find_first_not_of(" \t\n\r");
                if (first == std::string_view::npos) return true;
                piece.remove_prefix(first);
                started = true;
            }
            on_text(QString::fromUtf8(piece.data(), static_cast<qsizetype>(piece.size())));
            return true;
        };
        auto generated = ravel::generate(session, *tokenizer_, sampler, tokens, options, shown);
        if (!generated) return generated.error();
        const double prompt_ms = generated->prompt_ms + system_ms;
        result.promptTokens += static_cast<int>(generated->prompt_tokens);
        result.promptTokensPerSecond = prompt_ms > 0 ? result.promptTokens * 1000.0 / prompt_ms : 0;
        result.stopped = generated->stop_reason == StopReason::Cancelled;
        result.generatedTokens = static_cast<int>(generated->generated_tokens);
        result.generationTokensPerSecond = generated->generation_tokens_per_s();
        result.text = QString::fromStdString(generated->text).trimmed();
        result.reply = record_reply(*generated, settings, rng_at_start);

        if (!result.stopped) {
            if (!generated->ended_at_blank_line()) {
                if (auto fed = session.feed(separator()); !fed) return fed.error();
            }
            result.snapshot = snapshot(session, sampler);
        }
        result.contextTokens = static_cast<qint64>(session.tokens_processed());
        result.stateBytes = static_cast<qint64>(session.state().values().size() * sizeof(float));
        return result;
    }

  private:
    static void append(std::vector<std::int32_t>& to, const std::vector<std::int32_t>& more) {
        to.insert(to.end(), more.begin(), more.end());
    }

    std::vector<std::int32_t> separator() const {
        return tokenizer_->encode(ChatTemplate::kReplyStop);
    }

    // The ids to feed for an earlier reply, with the sampler brought past it as generation left
    // it (its settings, its generator, its penalty weights and draws). A reply without a usable
    // record (none, another tokenizer's ids, a damaged row) is its text tokenized again and
    // accepted into the penalty table: a record is a way to be exact, never a reason the
    // conversation cannot go on. Either way the separator follows, as after every reply the
    // app snapshots.
    std::vector<std::int32_t> rebuild_reply(const ChatTurn& turn, const SamplerSettings& current,
                                            Sampler& sampler) const {
        std::vector<std::int32_t> tokens;
        if (auto stored = usable_record(turn, current)) {
            // update_settings() only fails for settings validate() refuses, which
            // parse_reply_settings() has checked.
            (void)sampler.update_settings(stored->sampler.value_or(current));
            if (stored->reseed) sampler.reset();
            sampler.set_rng(*stored->rng_state);
            const bool drew_end_of_text = stored->stop_reason == StopReason::EndOfText;
            replay_sampler(sampler, turn.reply.tokens, drew_end_of_text);
            tokens = turn.reply.tokens;
            if (stored->ended_at_blank_line.value_or(false)) return tokens;
        } else {
            const std::string cleaned = clean_message_text(utf8(turn.text));
            if (!cleaned.empty()) tokens = tokenizer_->encode(" " + cleaned);
            for (const std::int32_t t : tokens) sampler.accept(t);
        }
        append(tokens, separator());
        return tokens;
    }

    // The record's settings when its ids can be fed to this model: made with this tokenizer,
    // inside the vocabulary, with the generator's state, and of a length a reply can have.
    std::optional<conversation::ReplySettings> usable_record(const ChatTurn& turn,
                                                             const SamplerSettings& current) const {
        constexpr std::size_t kMaxReplyTokens = 1 << 16;
        const auto& ids = turn.reply.tokens;
        if (ids.empty() || ids.size() > kMaxReplyTokens) return std::nullopt;
        for (const std::int32_t t : ids) {
            if (t < 0 || t >= model_->config().n_vocab) return std::nullopt;
        }
        auto stored = conversation::parse_reply_settings(utf8(turn.reply.settings), current);
        if (!stored || stored->tokenizer != tokenizer_->id() || !stored->rng_state) {
            return std::nullopt;
        }
        return std::move(stored).value();
    }

    // What is stored with the reply to rebuild it later (see rebuild_reply).
    ReplyRecord record_reply(const ravel::GenerationResult& generated,
                             const SamplerSettings& settings,
                             const Xoshiro256& rng_at_start) const {
        conversation::Reply reply;
        reply.tokens = generated.tokens;
        reply.stop_reason =
            generated.drew_end_of_text ? StopReason::EndOfText : generated.stop_reason;
        reply.ended_at_blank_line = generated.ended_at_blank_line();
        const conversation::ReplyOrigin origin{rng_at_start, tokenizer_->id(), true};
        ReplyRecord record;
        record.tokens = generated.tokens;
        record.settings =
            QString::fromStdString(conversation::reply_settings_json(settings, reply, origin));
        return record;
    }

    QByteArray snapshot(const Session& session, const Sampler& sampler) const {
        ResumeRecord record;
        record.state = session.state();
        const auto logits = session.logits();
        record.logits.assign(logits.begin(), logits.end());
        record.sampler = sampler.save();
        record.token_count = session.tokens_processed();
        record.model = fingerprint_;
        record.tokenizer_id = tokenizer_->id();
        const ResumeBlob blob = encode_resume_record(record);
        return QByteArray(reinterpret_cast<const char*>(blob.data()),
                          static_cast<qsizetype>(blob.size()));
    }

    bool resume(const GenerationRequest& request, const SamplerSettings& settings, Session& session,
                Sampler& sampler) {
        const auto* bytes = reinterpret_cast<const std::byte*>(request.snapshot.constData());
        auto record = decode_resume_record(std::span(bytes, request.snapshot.size()));
        if (!record) return false;
        if (!check_record_fits(*record, model_->config(), fingerprint_)) return false;
        if (record->tokenizer_id != tokenizer_->id()) return false;
        // The sampler first: a failure returns with the session untouched, and the caller then
        // replays the transcript from the beginning, not on top of the snapshot's state.
        auto restored = Sampler::restore(settings, record->sampler, exempt_);
        if (!restored) return false;
        if (!session.restore(record->state, record->logits, record->token_count)) return false;
        sampler = std::move(restored).value();
        return true;
    }

    // The state after a system prompt, so a new conversation (or a new first message) with the
    // same system prompt does not process it again. Most recently used first.
    const Session* cached_system(const std::string& block) {
        for (auto it = system_cache_.begin(); it != system_cache_.end(); ++it) {
            if (it->first == block) {
                system_cache_.splice(system_cache_.begin(), system_cache_, it);
                return &system_cache_.front().second;
            }
        }
        return nullptr;
    }

    void remember_system(const std::string& block, const Session& session) {
        system_cache_.emplace_front(block, session);
        while (system_cache_.size() > kSystemCache) system_cache_.pop_back();
    }

    std::shared_ptr<const Model> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::shared_ptr<const std::vector<bool>> exempt_;
    ModelFingerprint fingerprint_;
    ChatTemplate chat_;
    int threads_ = 1;
    std::list<std::pair<std::string, Session>> system_cache_;
};

}  // namespace

std::unique_ptr<InferenceBackend> make_engine_backend() {
    return std::make_unique<EngineBackend>();
}

}  // namespace ravel::app
