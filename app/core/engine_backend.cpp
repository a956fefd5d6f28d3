// The engine-backed InferenceBackend: loads a model and its tokenizer, renders the chat template,
// feeds the prompt in chunks, samples and streams text, and makes a resume record after every
// complete reply. Runs only on the inference thread.
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QRandomGenerator>
#include <algorithm>
#include <cctype>
#include <vector>

#include "inference_backend.hpp"
#include "ravel/chat_template.hpp"
#include "ravel/model.hpp"
#include "ravel/model_fingerprint.hpp"
#include "ravel/resume_record.hpp"
#include "ravel/sampler.hpp"
#include "ravel/session.hpp"
#include "ravel/tokenizer.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::app {

namespace {

std::string utf8(const QString& s) {
    return s.toStdString();
}

// Tokens that decode to whitespace or digits gain no penalty weight (ChatRWKV's rule).
std::shared_ptr<const std::vector<bool>> penalty_exempt_mask(const Tokenizer& tokenizer) {
    auto mask = std::make_shared<std::vector<bool>>(tokenizer.vocab_size(), false);
    for (std::int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
        const std::string_view bytes = tokenizer.token_bytes(id);
        (*mask)[id] = !bytes.empty() && std::all_of(bytes.begin(), bytes.end(), [](char c) {
            return std::isspace(static_cast<unsigned char>(c)) ||
                   std::isdigit(static_cast<unsigned char>(c));
        });
    }
    return mask;
}

ChatRole chat_role(Role role) {
    switch (role) {
        case Role::System:
            return ChatRole::System;
        case Role::Assistant:
            return ChatRole::Assistant;
        case Role::User:
            break;
    }
    return ChatRole::User;
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
        if (out.stop_sequences.size() < 32) out.stop_sequences.push_back(utf8(line).substr(0, 256));
    }
    return out;
}

// Length of the longest suffix of `text` that begins one of `stops`: held back while
// streaming, because it may turn out to be stop text the user must not see.
std::size_t holdback(const std::string& text, const std::vector<std::string>& stops) {
    std::size_t keep = 0;
    for (const std::string& stop : stops) {
        for (std::size_t n = std::min(stop.size() - 1, text.size()); n > keep; --n) {
            if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
                keep = n;
                break;
            }
        }
    }
    return keep;
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
        LoadOptions options;
        options.progress = [&](float f) { return progress(0.9 * f); };
        auto model = Model::from_file(*file, options);
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
        if (!progress(0.92)) return cancelled_error();

        FingerprintCache cache(FingerprintCache::default_path());
        auto fingerprint = cache.get_or_compute(*file, config);
        if (!fingerprint) return fingerprint.error();
        if (!progress(1.0)) return cancelled_error();

        // Success: replace the previous model only now.
        model_ = std::move(model).value();
        tokenizer_ = std::move(tokenizer).value();
        exempt_ = penalty_exempt_mask(*tokenizer_);
        fingerprint_ = fingerprint_for_runtime(*fingerprint, model_->weight_type());
        chat_ = ChatTemplate(*kind == TokenizerKind::NeoX ? ChatTemplateKind::Raven
                                                          : ChatTemplateKind::World);

        ModelInfo info;
        info.path = request.path;
        info.format = QString::fromUtf8(file_format_name(file->format()).data());
        info.version = QString::fromUtf8(arch_name(config.arch).data());
        info.tokenizer = QString::fromUtf8(tokenizer_->kind_name().data());
        info.device = QCoreApplication::translate("Engine", "CPU");
        info.layers = config.n_layer;
        info.width = config.n_embd;
        info.vocab = config.n_vocab;
        info.parameters = config.n_params;
        info.stateBytes = static_cast<qint64>(config.state_floats() * sizeof(float));
        info.loadMs = static_cast<double>(timer.nsecsElapsed()) / 1e6;
        return info;
    }

    void unload() override {
        model_.reset();
        tokenizer_.reset();
        exempt_.reset();
    }

    bool loaded() const override { return model_ != nullptr; }

    ravel::Result<GenerationResult> generate(const GenerationRequest& request,
                                             const std::function<void(const QString&)>& on_text,
                                             const std::function<bool()>& stop) override {
        if (!model_) return make_error("No model is loaded.");
        GenerationResult result;
        Session session(model_);
        const std::uint64_t seed = request.sampling.seed >= 0
                                       ? static_cast<std::uint64_t>(request.sampling.seed)
                                       : QRandomGenerator::global()->generate64();
        const SamplerSettings settings = sampler_settings(request.sampling, seed);
        if (auto ok = settings.validate(); !ok) return ok.error();
        Sampler sampler(settings);
        sampler.set_penalty_exempt(exempt_);

        // Resume from the snapshot when it belongs to this model; otherwise replay everything.
        int first_turn = 0;
        if (!request.snapshot.isEmpty() && request.resumeTurns > 0 &&
            request.resumeTurns <= request.turns.size()) {
            QElapsedTimer resume_timer;
            resume_timer.start();
            if (resume(request, settings, session, sampler)) {
                first_turn = request.resumeTurns;
                result.resumeMs = static_cast<double>(resume_timer.nsecsElapsed()) / 1e6;
            }
        }
        std::vector<ChatMessage> messages;
        if (first_turn == 0 && !request.systemPrompt.trimmed().isEmpty()) {
            messages.push_back({ChatRole::System, utf8(request.systemPrompt)});
        }
        for (qsizetype i = first_turn; i < request.turns.size(); ++i) {
            messages.push_back({chat_role(request.turns[i].role), utf8(request.turns[i].text)});
        }
        const std::vector<std::int32_t> prompt = tokenizer_->encode(chat_.render(messages));

        std::atomic<bool> cancel{false};
        QElapsedTimer timer;
        timer.start();
        constexpr int kChunk = 64;
        for (std::size_t at = 0; at < prompt.size(); at += kChunk) {
            if (stop()) {
                result.stopped = true;
                return result;
            }
            const std::size_t n = std::min<std::size_t>(kChunk, prompt.size() - at);
            FeedOptions options;
            options.chunk_size = kChunk;
            options.cancel = &cancel;
            auto fed = session.feed(std::span(prompt).subspan(at, n), options);
            if (!fed) return fed.error();
        }
        const double prompt_s = static_cast<double>(timer.nsecsElapsed()) / 1e9;
        result.promptTokens = static_cast<int>(prompt.size());
        result.promptTokensPerSecond = prompt_s > 0 ? prompt.size() / prompt_s : 0;

        std::vector<std::string> stops = settings.stop_sequences;
        stops.emplace_back(ChatTemplate::kReplyStop);
        StreamDecoder decoder(*tokenizer_);
        std::string text;
        std::size_t streamed = 0;
        bool ended_at_separator = false;
        const auto eot = tokenizer_->end_of_text();
        timer.restart();
        int generated = 0;
        while (generated < settings.max_tokens) {
            if (stop()) {
                result.stopped = true;
                break;
            }
            std::vector<std::int32_t> bans;
            if (generated == 0 && eot) bans.push_back(*eot);
            const std::int32_t token = sampler.sample(session.logits(), bans);
            if (token < 0 || (eot && token == *eot)) break;
            sampler.accept(token);
            ++generated;
            auto stepped = session.step(token);
            if (!stepped) return stepped.error();
            text += decoder.push(token);
            std::size_t cut = std::string::npos;
            for (const std::string& s : stops) cut = std::min(cut, text.find(s));
            if (cut != std::string::npos) {
                ended_at_separator = text.compare(cut, ChatTemplate::kReplyStop.size(),
                                                  ChatTemplate::kReplyStop) == 0;
                text.resize(cut);
                break;
            }
            const std::size_t safe = text.size() - holdback(text, stops);
            if (safe > streamed) {
                emit_text(text, streamed, safe, on_text);
            }
        }
        if (!result.stopped && !ended_at_separator) text += decoder.flush();
        emit_text(text, streamed, text.size(), on_text);
        const double gen_s = static_cast<double>(timer.nsecsElapsed()) / 1e9;
        result.generatedTokens = generated;
        result.generationTokensPerSecond = gen_s > 0 ? generated / gen_s : 0;
        result.text = QString::fromStdString(text).trimmed();

        if (!result.stopped) {
            // Every snapshot ends after the turn separator, so the next turn appends directly.
            if (!ended_at_separator) {
                const auto sep = tokenizer_->encode(ChatTemplate::kReplyStop);
                auto fed = session.feed(sep);
                if (!fed) return fed.error();
            }
            ResumeRecord record;
            record.state = session.state();
            const auto logits = session.logits();
            record.logits.assign(logits.begin(), logits.end());
            record.sampler = sampler.save();
            record.token_count = session.tokens_processed();
            record.model = fingerprint_;
            record.tokenizer_id = tokenizer_->id();
            const std::vector<std::byte> blob = encode_resume_record(record);
            result.snapshot = QByteArray(reinterpret_cast<const char*>(blob.data()),
                                         static_cast<qsizetype>(blob.size()));
        }
        result.contextTokens = static_cast<qint64>(session.tokens_processed());
        result.stateBytes = static_cast<qint64>(session.state().values().size() * sizeof(float));
        return result;
    }

  private:
    // Streams text[from, to), dropping the whitespace a reply starts with.
    static void emit_text(const std::string& text, std::size_t& from, std::size_t to,
                          const std::function<void(const QString&)>& on_text) {
        if (to <= from) return;
        if (from == 0) {
            while (from < to && std::isspace(static_cast<unsigned char>(text[from]))) ++from;
        }
        if (to > from)
            on_text(QString::fromUtf8(text.data() + from, static_cast<qsizetype>(to - from)));
        from = std::max(from, to);
    }

    bool resume(const GenerationRequest& request, const SamplerSettings& settings, Session& session,
                Sampler& sampler) {
        const auto* bytes = reinterpret_cast<const std::byte*>(request.snapshot.constData());
        auto record = decode_resume_record(std::span(bytes, request.snapshot.size()));
        if (!record) return false;
        if (!check_record_fits(*record, model_->config(), fingerprint_)) return false;
        if (record->tokenizer_id != tokenizer_->id()) return false;
        if (!session.restore(record->state, record->logits, record->token_count)) return false;
        auto restored = Sampler::restore(settings, record->sampler, exempt_);
        if (!restored) return false;
        sampler = std::move(restored).value();
        return true;
    }

    std::shared_ptr<const Model> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::shared_ptr<const std::vector<bool>> exempt_;
    ModelFingerprint fingerprint_;
    ChatTemplate chat_;
};

}  // namespace

std::unique_ptr<InferenceBackend> make_engine_backend() {
    return std::make_unique<EngineBackend>();
}

}  // namespace ravel::app
