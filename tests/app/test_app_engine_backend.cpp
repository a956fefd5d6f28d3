// The engine-backed InferenceBackend on a real shared model: it loads with progress, reports
// model information (the device with its thread count and kernel set), streams a reply, and a
// reply resumed from its snapshot equals the same reply computed by replaying the transcript.
// The state after a system prompt is kept, so the next conversation does not process it again.
// On the bundled demo model, the app's replies equal `ravel-cli chat`'s (its ChatLoop) for the
// same seed, settings and history. Bad files and cancelled loads are errors with messages.
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "chat_loop.hpp"
#include "demo/demo_model.hpp"
#include "inference_backend.hpp"
#include "ravel/machine.hpp"
#include "ravel/model_fingerprint.hpp"
#include "ravel/resume_record.hpp"
#include "ravel/sampler.hpp"
#include "ravel/weight_file.hpp"
#include "test_data.hpp"

using namespace ravel;
using namespace ravel::app;

class TestAppEngineBackend : public QObject {
    Q_OBJECT
    QTemporaryDir cache_;

    static QString modelPath() {
        return QString::fromStdString(
            (test::shared_data_dir() / "models/tiny-5v2-730K/model.pth").string());
    }

  private slots:
    void initTestCase() { qputenv("XDG_CACHE_HOME", cache_.path().toUtf8()); }

    void loadsAndDescribesTheModel() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QList<double> progress;
        auto info = backend->load(LoadRequest{1, modelPath(), 0, {}, {}}, [&](double f) {
            progress.append(f);
            return true;
        });
        QVERIFY2(info.ok(), info.ok() ? "" : info.message().c_str());
        QVERIFY(backend->loaded());
        QCOMPARE(info->version, QString("5.2"));
        QCOMPARE(info->layers, 12);
        QCOMPARE(info->width, 64);
        QCOMPARE(info->vocab, 256);
        QCOMPARE(info->parameters, 731904);
        QCOMPARE(info->tokenizer, QString("byte"));
        QCOMPARE(info->format, QString("pth"));
        QCOMPARE(info->weights, QString("f32"));  // as the file holds them
        QVERIFY(info->stateBytes > 0);
        QVERIFY(!progress.isEmpty());
        QVERIFY(std::is_sorted(progress.begin(), progress.end()));
        QCOMPARE(progress.last(), 1.0);
        // No GPU build is asked for explicitly, so the CPU runs it with the threads given.
        auto three =
            backend->load(LoadRequest{2, modelPath(), 3, "cpu", {}}, [](double) { return true; });
        QVERIFY(three.ok());
        QCOMPARE(three->device,
                 QString("CPU (3 threads, %1)").arg(QString::fromStdString(cpu_kernel_isa())));
        QVERIFY(three->deviceNote.isEmpty());

        // Converted at load when asked; a type the engine does not know is an error.
        auto q8 = backend->load(LoadRequest{3, modelPath(), 0, "cpu", "q8_0"},
                                [](double) { return true; });
        QVERIFY2(q8.ok(), q8.ok() ? "" : q8.message().c_str());
        QCOMPARE(q8->weights, QString("q8_0"));
        auto bad = backend->load(LoadRequest{4, modelPath(), 0, "cpu", "q3_k"},
                                 [](double) { return true; });
        QVERIFY(!bad.ok());
        QVERIFY2(QString::fromStdString(bad.message()).contains("q3_k"), bad.message().c_str());
    }

    void systemPromptStateIsKept() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QVERIFY(backend->load(LoadRequest{1, modelPath(), 0, {}, {}}, [](double) { return true; })
                    .ok());
        GenerationRequest r;
        r.id = 1;
        r.systemPrompt = "You are a helpful assistant who answers briefly.";
        r.turns = {ChatTurn{Role::User, "Hi", {}}};
        r.sampling.seed = 7;
        r.sampling.maxTokens = 20;
        const std::atomic<bool> never{false};
        auto first = backend->generate(
            r, [](const QString&) {}, never);
        QVERIFY(first.ok());
        QCOMPARE(first->resumeMs, -1.0);
        const int user_tokens = int(QByteArray("User: Hi\n\nAssistant:").size());
        const int system_tokens =
            int(QByteArray("System: " + r.systemPrompt.toUtf8() + "\n\n").size());
        QCOMPARE(first->promptTokens, system_tokens + user_tokens);
        // Another conversation with the same system prompt starts from the kept state: only the
        // user turn is processed, and the reply is the same as from scratch.
        r.id = 2;
        auto second = backend->generate(
            r, [](const QString&) {}, never);
        QVERIFY(second.ok());
        QVERIFY(second->resumeMs >= 0);
        QCOMPARE(second->promptTokens, user_tokens);
        QCOMPARE(second->text, first->text);
        QCOMPARE(second->contextTokens, first->contextTokens);
        QCOMPARE(second->snapshot, first->snapshot);
    }

    // The app and `ravel-cli chat` run the same generator over the same prompts, so for the same
    // seed, settings and history they write the same replies (turn 2 continues from turn 1's
    // snapshot in the app, from the live session in the CLI).
    void sameRepliesAsCliChat() {
        const auto demo_path = demo::find_demo_model();
        if (demo_path.empty()) QSKIP("the bundled demo model is not in this tree");
        const QString system = "You are Ravel's assistant.";
        const QStringList prompts = {"What is 2+3?", "And what is 7 times 6?"};

        SamplingSettings app_sampling;  // Balanced: ChatRWKV's chat defaults, as the CLI's
        app_sampling.seed = 42;
        app_sampling.maxTokens = 48;
        auto backend = make_engine_backend();
        QVERIFY(backend
                    ->load(LoadRequest{1, QString::fromStdString(demo_path.string()), 2, "cpu", {}},
                           [](double) { return true; })
                    .ok());
        const std::atomic<bool> never{false};
        GenerationRequest r;
        r.systemPrompt = system;
        r.sampling = app_sampling;
        QStringList app_replies;
        QByteArray snapshot;
        for (const QString& prompt : prompts) {
            r.id++;
            if (!snapshot.isEmpty()) {
                r.snapshot = snapshot;
                r.resumeTurns = int(r.turns.size());
            }
            r.turns.append(ChatTurn{Role::User, prompt, {}});
            auto reply = backend->generate(
                r, [](const QString&) {}, never);
            QVERIFY2(reply.ok(), reply.ok() ? "" : reply.message().c_str());
            if (!r.snapshot.isEmpty()) QVERIFY(reply->resumeMs >= 0);
            app_replies.append(reply->text);
            snapshot = reply->snapshot;
            r.turns.append(ChatTurn{Role::Assistant, reply->text, {}});
        }

        auto model = Model::load(demo_path);
        QVERIFY(model.ok());
        auto tokenizer = load_tokenizer(TokenizerKind::Byte, {});
        QVERIFY(tokenizer.ok());
        cli::ChatConfig config;
        config.sampler = SamplerSettings::chat_defaults();
        config.sampler.seed = 42;
        config.sampler.max_tokens = 48;
        config.system = system.toStdString();
        cli::ChatLoop chat(*model, std::move(tokenizer).value(), config);
        for (int i = 0; i < prompts.size(); ++i) {
            auto turn = chat.send(prompts[i].toStdString());
            QVERIFY(turn.ok());
            QCOMPARE(app_replies[i], QString::fromStdString(turn->reply));
        }
        QVERIFY(!app_replies[0].isEmpty());
    }

    void badFileAndCancelledLoad() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QTemporaryDir dir;
        QFile junk(dir.filePath("junk.pth"));
        QVERIFY(junk.open(QIODevice::WriteOnly));
        junk.write(QByteArray(1000, 'j'));
        junk.close();
        auto bad =
            backend->load(LoadRequest{1, junk.fileName(), 0, {}, {}}, [](double) { return true; });
        QVERIFY(!bad.ok());
        QVERIFY(!bad.message().empty());
        QVERIFY(!backend->loaded());
        auto cancelled =
            backend->load(LoadRequest{2, modelPath(), 0, {}, {}}, [](double) { return false; });
        QVERIFY(cancelled.cancelled());
        QVERIFY(!backend->loaded());
    }

    // A model not seen before is fingerprinted before its weights load, within the load's
    // progress: a cancel while hashing stores no fingerprint, a cancel while loading the
    // weights finds it stored already.
    void newModelIsFingerprintedFirst() {
        RAVEL_REQUIRE_SHARED_DATA();
        QTemporaryDir dir;
        const QString copy = dir.filePath("model.pth");
        QVERIFY(QFile::copy(modelPath(), copy));
        const std::filesystem::path copy_path = copy.toStdString();
        FingerprintCache cache(FingerprintCache::default_path());
        QVERIFY(!cache.lookup(copy_path).has_value());
        auto backend = make_engine_backend();
        QList<double> progress;
        auto cancelled = backend->load(LoadRequest{1, copy, 0, "cpu", {}}, [&](double f) {
            progress.append(f);
            return f < 0.2;
        });
        QVERIFY(cancelled.cancelled());
        QVERIFY(!progress.isEmpty() && progress.last() <= 0.45);
        QVERIFY(!cache.lookup(copy_path).has_value());
        progress.clear();
        auto late = backend->load(LoadRequest{2, copy, 0, "cpu", {}}, [&](double f) {
            progress.append(f);
            return f < 0.6;
        });
        QVERIFY(late.cancelled());
        QVERIFY(progress.last() >= 0.6 && progress.last() < 0.9);
        QVERIFY(cache.lookup(copy_path).has_value());
        progress.clear();
        auto info = backend->load(LoadRequest{3, copy, 0, "cpu", {}}, [&](double f) {
            progress.append(f);
            return true;
        });
        QVERIFY2(info.ok(), info.ok() ? "" : info.message().c_str());
        QVERIFY(std::is_sorted(progress.begin(), progress.end()));
        QCOMPARE(progress.last(), 1.0);
        auto stored = cache.lookup(copy_path);
        QVERIFY(stored.has_value());
        auto file = WeightFile::open(copy_path);
        QVERIFY(file.ok());
        auto cfg = detect_config(*file);
        QVERIFY(cfg.ok());
        const auto computed = compute_fingerprint(*file, *cfg);
        QVERIFY(computed.ok() && *computed == *stored);
    }

    void resumedReplyEqualsReplayedReply() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QVERIFY(backend->load(LoadRequest{1, modelPath(), 0, {}, {}}, [](double) { return true; })
                    .ok());
        GenerationRequest first;
        first.id = 1;
        first.turns = {ChatTurn{Role::User, "Tell me a story.", {}}};
        first.sampling.temperature = 1.0;
        first.sampling.seed = 1234;
        first.sampling.maxTokens = 40;
        QString streamed;
        const std::atomic<bool> never{false};
        auto r1 = backend->generate(
            first, [&](const QString& s) { streamed += s; }, never);
        QVERIFY2(r1.ok(), r1.ok() ? "" : r1.message().c_str());
        QVERIFY(r1->generatedTokens > 0);
        QCOMPARE(streamed, r1->text);
        QVERIFY(!r1->snapshot.isEmpty());
        QCOMPARE(r1->resumeMs, -1.0);

        GenerationRequest second = first;
        second.id = 2;
        second.turns.append(ChatTurn{Role::Assistant, r1->text, {}});
        second.turns.append(ChatTurn{Role::User, "And then?", {}});
        second.snapshot = r1->snapshot;
        second.resumeTurns = 2;
        auto resumed = backend->generate(
            second, [](const QString&) {}, never);
        QVERIFY(resumed.ok());
        QVERIFY(resumed->resumeMs >= 0);
        QCOMPARE(resumed->promptTokens, int(QByteArray("User: And then?\n\nAssistant:").size()));

        // A corrupted snapshot is a cache miss: the transcript is replayed, no error.
        GenerationRequest damaged = second;
        damaged.snapshot[damaged.snapshot.size() / 2] =
            static_cast<char>(damaged.snapshot[damaged.snapshot.size() / 2] ^ 0x55);
        auto replayed = backend->generate(
            damaged, [](const QString&) {}, never);
        QVERIFY(replayed.ok());
        QCOMPARE(replayed->resumeMs, -1.0);
        QVERIFY(replayed->promptTokens > resumed->promptTokens);
        QCOMPARE(replayed->contextTokens, resumed->contextTokens);

        // A record whose checksum holds but whose sampler section this build refuses (another
        // version) is a cache miss too, and the replay starts from the beginning: its context
        // is the transcript's, not the transcript's on top of the snapshot's state.
        auto record = decode_resume_record(std::span(
            reinterpret_cast<const std::byte*>(r1->snapshot.constData()), r1->snapshot.size()));
        QVERIFY(record.ok());
        QVERIFY(record->sampler.size() > 8);
        record->sampler[4] = std::byte{0x63};  // the sampler record's version, after its magic
        const ResumeBlob foreign = encode_resume_record(*record);
        GenerationRequest refused = second;
        refused.snapshot = QByteArray(reinterpret_cast<const char*>(foreign.data()),
                                      static_cast<qsizetype>(foreign.size()));
        auto fresh = backend->generate(
            refused, [](const QString&) {}, never);
        QVERIFY(fresh.ok());
        QCOMPARE(fresh->resumeMs, -1.0);
        QCOMPARE(fresh->promptTokens, replayed->promptTokens);
        QCOMPARE(fresh->contextTokens, resumed->contextTokens);
        QCOMPARE(fresh->text, replayed->text);
    }

    // Without a snapshot, an earlier reply is rebuilt from its record (the ids it fed and how
    // they were drawn): the next reply is the one the snapshot gives, and so is the snapshot
    // after it, its sampler section byte for byte. For a fixed seed and a random one, for a
    // first answer and (fixed seed) a regenerated one, and over two earlier replies.
    void rebuiltReplyEqualsResumedReply() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QVERIFY(backend->load(LoadRequest{1, modelPath(), 0, {}, {}}, [](double) { return true; })
                    .ok());
        const std::atomic<bool> never{false};
        const auto sampler_bytes = [](const QByteArray& snapshot) {
            auto record = decode_resume_record(std::span(
                reinterpret_cast<const std::byte*>(snapshot.constData()), snapshot.size()));
            return record.ok() ? record->sampler : std::vector<std::byte>{};
        };
        for (const qint64 seed : {qint64{5}, qint64{-1}}) {
            GenerationRequest r;
            r.systemPrompt = "Be kind.";
            r.sampling.temperature = 1.0;
            r.sampling.presencePenalty = 0.5;
            r.sampling.frequencyPenalty = 0.5;
            r.sampling.seed = seed;
            r.sampling.maxTokens = 24;
            QByteArray snapshot;
            for (const QString& prompt : {QString("Tell me a story."), QString("And then?")}) {
                if (!snapshot.isEmpty()) {
                    r.snapshot = snapshot;
                    r.resumeTurns = int(r.turns.size());
                }
                r.turns.append(ChatTurn{Role::User, prompt, {}});
                auto reply = backend->generate(
                    r, [](const QString&) {}, never);
                QVERIFY2(reply.ok(), reply.ok() ? "" : reply.message().c_str());
                QCOMPARE(int(reply->reply.tokens.size()), reply->generatedTokens);
                QVERIFY(reply->reply.settings.contains("\"sampler\""));
                snapshot = reply->snapshot;
                r.turns.append(ChatTurn{Role::Assistant, reply->text, reply->reply});
            }
            r.turns.append(ChatTurn{Role::User, "What happened next?", {}});
            r.snapshot = snapshot;
            r.resumeTurns = int(r.turns.size()) - 1;
            // (A regenerated reply with a random seed draws a new one each time.)
            for (const int branch : seed >= 0 ? QList<int>{0, 1} : QList<int>{0}) {
                GenerationRequest resumed_request = r;
                resumed_request.branch = branch;
                GenerationRequest rebuilt_request = resumed_request;
                rebuilt_request.snapshot.clear();
                rebuilt_request.resumeTurns = 0;
                auto resumed = backend->generate(
                    resumed_request, [](const QString&) {}, never);
                auto rebuilt = backend->generate(
                    rebuilt_request, [](const QString&) {}, never);
                QVERIFY(resumed.ok() && rebuilt.ok());
                QVERIFY(resumed->resumeMs >= 0);
                QVERIFY(rebuilt->promptTokens > resumed->promptTokens);
                QVERIFY(!resumed->text.isEmpty());
                QCOMPARE(rebuilt->text, resumed->text);
                QCOMPARE(rebuilt->contextTokens, resumed->contextTokens);
                // (With a random seed each request draws one, which the settings record.)
                if (seed >= 0) QCOMPARE(rebuilt->reply.settings, resumed->reply.settings);
                QVERIFY(rebuilt->reply.tokens == resumed->reply.tokens);
                QVERIFY(!sampler_bytes(resumed->snapshot).empty());
                QVERIFY(sampler_bytes(rebuilt->snapshot) == sampler_bytes(resumed->snapshot));
            }
            // A record this model cannot use (another tokenizer's ids, an id past its vocabulary,
            // a damaged row) is no reason to stop: the reply is tokenized again from its text, as
            // a reply stored without a record is.
            GenerationRequest plain = r;
            plain.snapshot.clear();
            plain.resumeTurns = 0;
            for (ChatTurn& turn : plain.turns) turn.reply = {};
            auto from_text = backend->generate(
                plain, [](const QString&) {}, never);
            QVERIFY(from_text.ok());
            const auto damaged = [&](const std::function<void(ReplyRecord&)>& damage) {
                GenerationRequest bad = r;
                bad.snapshot.clear();
                bad.resumeTurns = 0;
                damage(bad.turns[1].reply);
                damage(bad.turns[3].reply);
                auto reply = backend->generate(
                    bad, [](const QString&) {}, never);
                return reply.ok() ? reply->promptTokens : -1;
            };
            QCOMPARE(damaged([](ReplyRecord& rec) { rec.tokens.push_back(256); }),
                     from_text->promptTokens);
            QCOMPARE(damaged([](ReplyRecord& rec) {
                         rec.settings.replace("\"tokenizer\":\"byte-256\"",
                                              "\"tokenizer\":\"world\"");
                         QVERIFY(rec.settings.contains("\"world\""));
                     }),
                     from_text->promptTokens);
            QCOMPARE(damaged([](ReplyRecord& rec) { rec.settings = "{not json"; }),
                     from_text->promptTokens);
        }
    }

    // A stop sequence longer than the 256 bytes kept is cut between characters: the reply's
    // record (JSON) stays valid UTF-8, where a cut inside an emoji made writing it throw.
    void longStopSequenceIsCutBetweenCharacters() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QVERIFY(backend->load(LoadRequest{1, modelPath(), 0, {}, {}}, [](double) { return true; })
                    .ok());
        GenerationRequest r;
        r.turns = {ChatTurn{Role::User, "Hello", {}}};
        r.sampling.seed = 3;
        r.sampling.maxTokens = 8;
        QString stop = "a";
        for (int i = 0; i < 64; ++i) stop += QString::fromUtf8("\U0001F600");  // 4 bytes each
        r.sampling.stopSequences = stop;
        const std::atomic<bool> never{false};
        auto reply = backend->generate(
            r, [](const QString&) {}, never);
        QVERIFY2(reply.ok(), reply.ok() ? "" : reply.message().c_str());
        const auto json =
            nlohmann::json::parse(reply->reply.settings.toStdString(), nullptr, false);
        QVERIFY(json.is_object());
        const std::string kept = json["sampler"]["stop_sequences"][0].get<std::string>();
        QCOMPARE(kept.size(), std::size_t{253});                  // "a" and 63 whole emoji
        QVERIFY(kept.find("\xEF\xBF\xBD") == std::string::npos);  // no replacement character
    }

    // Regenerating a reply resumes from the same snapshot as the first answer did; with the
    // snapshot's sampler it would draw the same reply again. Each branch draws afresh, and a
    // fixed seed keeps every branch reproducible.
    void regeneratedReplyDrawsAfresh() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QVERIFY(backend->load(LoadRequest{1, modelPath(), 0, {}, {}}, [](double) { return true; })
                    .ok());
        const std::atomic<bool> never{false};
        GenerationRequest first;
        first.turns = {ChatTurn{Role::User, "Tell me a story.", {}}};
        first.sampling.temperature = 1.0;
        first.sampling.seed = 99;
        first.sampling.maxTokens = 40;
        auto r1 = backend->generate(
            first, [](const QString&) {}, never);
        QVERIFY(r1.ok());
        GenerationRequest next = first;
        next.turns.append(ChatTurn{Role::Assistant, r1->text, {}});
        next.turns.append(ChatTurn{Role::User, "And then?", {}});
        next.snapshot = r1->snapshot;
        next.resumeTurns = 2;
        auto generate = [&](int branch) {
            GenerationRequest r = next;
            r.branch = branch;
            auto reply = backend->generate(
                r, [](const QString&) {}, never);
            if (!reply.ok() || reply->resumeMs < 0 || reply->generatedTokens == 0) return QString();
            return reply->text;
        };
        const QString answer = generate(0);
        const QString again = generate(1);
        const QString third = generate(2);
        QVERIFY(!answer.isEmpty() && !again.isEmpty() && !third.isEmpty());
        QVERIFY(again != answer);
        QVERIFY(third != answer && third != again);
        QCOMPARE(generate(0), answer);
        QCOMPARE(generate(1), again);

        // Only the generator is reseeded: the penalty table, which counts every reply token the
        // conversation has accepted, carries on from the snapshot in every branch.
        const auto accepted = [&](const QByteArray& snapshot) -> qint64 {
            auto record = decode_resume_record(std::span(
                reinterpret_cast<const std::byte*>(snapshot.constData()), snapshot.size()));
            if (!record.ok()) return -1;
            auto sampler = Sampler::restore(SamplerSettings{}, record->sampler);
            return sampler.ok() ? static_cast<qint64>(sampler->accepted_tokens()) : -1;
        };
        const qint64 before = accepted(r1->snapshot);
        QVERIFY(before > 0);
        for (int branch : {0, 1}) {
            GenerationRequest r = next;
            r.branch = branch;
            auto reply = backend->generate(
                r, [](const QString&) {}, never);
            QVERIFY(reply.ok() && !reply->snapshot.isEmpty());
            QCOMPARE(accepted(reply->snapshot), before + reply->generatedTokens);
        }
    }

    void stopEndsTheReply() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto backend = make_engine_backend();
        QVERIFY(backend->load(LoadRequest{1, modelPath(), 0, {}, {}}, [](double) { return true; })
                    .ok());
        GenerationRequest r;
        r.turns = {ChatTurn{Role::User, "Hello", {}}};
        r.sampling.maxTokens = 1000;
        r.sampling.seed = 1;
        // Stop raised from the text callback: the engine sees it before the next token.
        std::atomic<bool> stop{false};
        int pieces = 0;
        auto result = backend->generate(
            r, [&](const QString&) { stop.store(++pieces >= 5); }, stop);
        QVERIFY(result.ok());
        QVERIFY(result->stopped);
        QVERIFY(result->snapshot.isEmpty());
        QCOMPARE(pieces, 5);
        QVERIFY(result->generatedTokens >= 5);
        // Raised before the reply starts: nothing is generated at all.
        auto early = backend->generate(
            r, [](const QString&) {}, stop);
        QVERIFY(early.ok());
        QVERIFY(early->stopped);
        QCOMPARE(early->generatedTokens, 0);
    }
};

QTEST_GUILESS_MAIN(TestAppEngineBackend)
#include "test_app_engine_backend.moc"
