// Exact resume (DESIGN.md section 5): the tokens after a resume are the tokens an uninterrupted
// run produces, whether the state comes from a snapshot or is rebuilt after a damaged one.
#include <sqlite3.h>

#include <QTemporaryDir>
#include <QtTest>
#include <atomic>

#include "conversation/runner.hpp"
#include "ravel/resume_record.hpp"
#include "test_data.hpp"

using namespace ravel;
using namespace ravel::conversation;
using storage::Store;

namespace {

const char* kModels[] = {"tiny-4v0-660K", "tiny-5v2-730K", "tiny-6v0-3m-Q5_1dq", "tiny-7v0-834K"};

SamplerSettings settings(int max_tokens) {
    SamplerSettings s = SamplerSettings::chat_defaults();  // penalties on: the table matters
    s.temperature = 1.0f;
    s.top_p = 0.9f;  // wide enough that the random draw matters
    s.seed = 1;
    s.max_tokens = max_tokens;
    return s;
}

void raw_exec(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        qWarning("sql: %s", err ? err : "?");
    }
    sqlite3_free(err);
    sqlite3_close(db);
}

}  // namespace

class TestConversation : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    int n_ = 0;
    std::string fresh_db() { return dir_.filePath(QString("c%1.db").arg(++n_)).toStdString(); }

    Result<ModelContext> context(const std::string& name) {
        ModelContextOptions o;
        o.tokenizer = TokenizerKind::Byte;
        o.fingerprint_cache = dir_.filePath("fingerprints.json").toStdString();
        return load_model_context(test::shared_data_dir() / "models" / name / "model.pth", o);
    }

  private slots:

    // Engine level: 2N tokens in one go == N, snapshot into the database, a fresh Store and
    // Session, restore, N more.
    void exactResumeThroughStore_data() {
        QTest::addColumn<QString>("model");
        for (const char* m : kModels) QTest::newRow(m) << QString(m);
    }
    void exactResumeThroughStore() {
        RAVEL_REQUIRE_SHARED_DATA();
        QFETCH(QString, model);
        auto ctx = context(model.toStdString());
        QVERIFY2(ctx.ok(), ctx.ok() ? "" : ctx.message().c_str());
        const int N = 40;
        const auto prompt = ctx->tokenizer->encode("User: Tell me a story.\n\nAssistant:");
        auto run = [&](Session& s, Sampler& sm, int n, std::vector<std::int32_t>& out) {
            for (int i = 0; i < n; ++i) {
                const std::int32_t t = sm.sample(s.logits());
                QVERIFY(t >= 0);
                sm.accept(t);
                QVERIFY(s.step(t).ok());
                out.push_back(t);
            }
        };
        std::vector<std::int32_t> whole, first, second;
        {
            Session s(ctx->model);
            Sampler sm(settings(512));
            sm.set_penalty_exempt(ctx->penalty_exempt);
            QVERIFY(s.feed(prompt).ok());
            run(s, sm, 2 * N, whole);
        }
        const std::string db = fresh_db();
        std::int64_t msg = 0;
        {
            Session s(ctx->model);
            Sampler sm(settings(512));
            sm.set_penalty_exempt(ctx->penalty_exempt);
            QVERIFY(s.feed(prompt).ok());
            run(s, sm, N, first);
            ResumeRecord r{s.state(),        {s.logits().begin(), s.logits().end()},
                           sm.save(),        s.tokens_processed(),
                           ctx->fingerprint, ctx->tokenizer->id()};
            auto store = Store::open(db);
            QVERIFY(store.ok());
            auto c = store->create_conversation("x");
            storage::NewMessage m;
            m.conversation_id = c->id;
            m.text =
                std::string(1, 'x');  // not = "x": GCC 12 -Wrestrict false positive (PR 105329)
            msg = store->add_message(m)->id;
            QVERIFY(store->put_snapshot(msg, encode_resume_record(r), ctx->fingerprint.hex()).ok());
        }
        {
            auto store = Store::open(db);
            auto snap = store->snapshot(msg);
            QVERIFY(snap.ok() && snap->has_value());
            auto r = decode_resume_record((*snap)->blob);
            QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
            QVERIFY(check_record_fits(*r, ctx->model->config(), ctx->fingerprint).ok());
            Session s(ctx->model);
            QVERIFY(s.restore(r->state, r->logits, r->token_count).ok());
            auto sm = Sampler::restore(settings(512), r->sampler, ctx->penalty_exempt);
            QVERIFY(sm.ok());
            run(s, *sm, N, second);
        }
        std::vector<std::int32_t> joined = first;
        joined.insert(joined.end(), second.begin(), second.end());
        QCOMPARE(joined, whole);
    }

    // Conversation level: two turns in one runner == turn one, then a fresh Store and runner
    // (as a new process would) resuming from the database for turn two.
    void exactResumeAcrossRunners_data() { exactResumeThroughStore_data(); }
    void exactResumeAcrossRunners() {
        RAVEL_REQUIRE_SHARED_DATA();
        QFETCH(QString, model);
        auto ctx = context(model.toStdString());
        QVERIFY(ctx.ok());
        const auto s = settings(32);

        std::vector<std::int32_t> uninterrupted_b;
        std::string uninterrupted_text;
        {
            auto store = Store::open(fresh_db());
            ConversationRunner runner(*store, *ctx);
            auto c = runner.create("one go", s, "You are a storyteller.");
            QVERIFY2(c.ok(), c.ok() ? "" : c.message().c_str());
            auto a = runner.send(c->id, store->latest_message(c->id)->value().id, "Hello", s);
            QVERIFY2(a.ok(), a.ok() ? "" : a.message().c_str());
            QVERIFY(a->resume.was_live);
            auto b = runner.send(c->id, a->reply.id, "Tell me more", s);
            QVERIFY(b.ok());
            QVERIFY(b->resume.was_live);
            uninterrupted_b = b->reply.tokens;
            uninterrupted_text = b->reply.text;
            QVERIFY(!uninterrupted_b.empty());
        }
        const std::string db = fresh_db();
        std::int64_t conv = 0, reply_a = 0;
        {
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            auto c = runner.create("split", s, "You are a storyteller.");
            conv = c->id;
            auto a = runner.send(conv, store->latest_message(conv)->value().id, "Hello", s);
            QVERIFY(a.ok());
            reply_a = a->reply.id;
        }
        {
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            auto b = runner.send(conv, reply_a, "Tell me more", s);
            QVERIFY(b.ok());
            QVERIFY(b->resume.from_snapshot);
            QCOMPARE(*b->resume.snapshot_message, reply_a);
            QCOMPARE(b->resume.replayed_tokens, std::int64_t(0));
            QVERIFY(b->resume.skipped.empty());
            QCOMPARE(b->reply.tokens, uninterrupted_b);
            QCOMPARE(b->reply.text, uninterrupted_text);
        }
    }

    // A flipped byte, a truncated blob, and a snapshot of another model are each ignored and
    // rebuilt from the transcript; the conversation continues with the uninterrupted tokens.
    void damagedSnapshotsAreRebuilt_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("damage");
        for (const char* m : {"tiny-5v2-730K", "tiny-7v0-834K", "tiny-4v0-660K"}) {
            for (const char* d :
                 {"flip", "truncate", "other-model", "other-model-blob", "missing"}) {
                QTest::newRow(qPrintable(QString("%1/%2").arg(m, d))) << QString(m) << QString(d);
            }
        }
    }
    void damagedSnapshotsAreRebuilt() {
        RAVEL_REQUIRE_SHARED_DATA();
        QFETCH(QString, model);
        QFETCH(QString, damage);
        auto ctx = context(model.toStdString());
        QVERIFY(ctx.ok());
        const auto s = settings(24);
        const std::string db = fresh_db();
        std::int64_t conv = 0, reply_b = 0;
        std::vector<std::int32_t> expected_c;
        {
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            conv = runner.create("t", s, "Be brief.")->id;
            auto a = runner.send(conv, store->latest_message(conv)->value().id, "Hi", s);
            auto b = runner.send(conv, a->reply.id, "Go on", s);
            QVERIFY(b.ok());
            reply_b = b->reply.id;
            auto c = runner.send(conv, reply_b, "And then?", s);
            QVERIFY(c.ok());
            expected_c = c->reply.tokens;
            // Leave only the snapshot we damage: the others' fate is a separate question.
            QVERIFY(store->delete_message(c->user.id).ok());
        }
        {
            auto store = Store::open(db);
            auto snap = store->snapshot(reply_b);
            QVERIFY(snap->has_value());
            auto blob = (*snap)->blob;
            if (damage == "flip") {
                blob[blob.size() / 2] ^= std::byte{0x10};
                QVERIFY(store->put_snapshot(reply_b, blob, ctx->fingerprint.hex()).ok());
            } else if (damage == "truncate") {
                blob.resize(blob.size() - 100);
                QVERIFY(store->put_snapshot(reply_b, blob, ctx->fingerprint.hex()).ok());
            } else if (damage == "other-model" || damage == "other-model-blob") {
                auto r = decode_resume_record(blob);
                QVERIFY(r.ok());
                r->model.bytes[3] ^= 0x55;
                // Either the column says so, or only the blob does (a lying column).
                const std::string column =
                    damage == "other-model" ? r->model.hex() : ctx->fingerprint.hex();
                QVERIFY(store->put_snapshot(reply_b, encode_resume_record(*r), column).ok());
            } else {
                QVERIFY(store->delete_snapshot(reply_b).ok());
            }
        }
        {
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            auto c = runner.send(conv, reply_b, "And then?", s);
            QVERIFY2(c.ok(), c.ok() ? "" : c.message().c_str());
            // Rebuilt from the ancestor snapshot (reply a), not from the damaged one.
            QVERIFY(c->resume.replayed_tokens > 0);
            QVERIFY(c->resume.snapshot_message != reply_b);
            if (damage != "missing") QCOMPARE(c->resume.skipped.size(), std::size_t(1));
            QCOMPARE(c->reply.tokens, expected_c);
        }
        {
            // The rebuilt snapshot went back into the cache and is used next time.
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            auto info = runner.resume_to(conv, reply_b);
            QVERIFY(info.ok());
            QVERIFY(info->from_snapshot);
            QCOMPARE(*info->snapshot_message, reply_b);
        }
    }

    // Rebuilding from nothing (every snapshot gone) gives the same tokens too.
    void replayFromTheBeginning() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto ctx = context("tiny-6v0-3m-Q5_1dq");
        QVERIFY(ctx.ok());
        const auto s = settings(20);
        const std::string db = fresh_db();
        std::int64_t conv = 0, reply_a = 0;
        std::vector<std::int32_t> expected;
        {
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            conv = runner.create("t", s)->id;  // no system prompt: the first turn is a root
            auto a = runner.send(conv, std::nullopt, "Hi", s);
            QVERIFY(a.ok());
            reply_a = a->reply.id;
            auto b = runner.send(conv, reply_a, "More", s);
            expected = b->reply.tokens;
            QVERIFY(store->delete_message(b->user.id).ok());
        }
        raw_exec(db, "DELETE FROM snapshots");
        auto store = Store::open(db);
        ConversationRunner runner(*store, *ctx);
        auto b = runner.send(conv, reply_a, "More", s);
        QVERIFY(b.ok());
        QVERIFY(!b->resume.from_snapshot);
        QCOMPARE(b->reply.tokens, expected);
    }

    // A reply's settings carry the generator's state when it began ("rng_state"): a replay
    // restarts the generator there, whatever came before it. And a reply written by the app
    // ("separator_follows": its state includes the turn separator even where the reply did not
    // end at a blank line) is replayed with the separator, which the next turn then leaves out.
    void replayHonoursTheReplyOrigin() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto ctx = context("tiny-5v2-730K");
        QVERIFY(ctx.ok());
        const auto s = settings(12);
        const std::string db = fresh_db();
        std::int64_t conv = 0, reply = 0;
        std::size_t draws = 0, user_tokens = 0;
        {
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            conv = runner.create("t", s)->id;
            auto a = runner.send(conv, std::nullopt, "Hi", s);
            QVERIFY(a.ok());
            QVERIFY(a->generation.stop_reason != StopReason::EndOfText);  // bytes: none
            QVERIFY(!a->generation.ended_at_blank_line);                  // 12 tokens, cut
            QVERIFY(a->reply.settings_json.find("\"rng_state\"") != std::string::npos);
            reply = a->reply.id;
            draws = a->reply.tokens.size();
            user_tokens = a->user.tokens.size();
        }
        QVERIFY(draws > 0);
        raw_exec(db, "DELETE FROM snapshots");
        raw_exec(db,
                 "UPDATE messages SET settings_json = json_set(settings_json, '$.rng_state', "
                 "json('[1,2,3,4]'), '$.separator_follows', json('true')) WHERE id = " +
                     std::to_string(reply));
        auto store = Store::open(db);
        ConversationRunner runner(*store, *ctx);
        auto resumed = runner.resume_to(conv, reply);
        QVERIFY2(resumed.ok(), resumed.ok() ? "" : resumed.message().c_str());
        QVERIFY(!resumed->from_snapshot);
        QCOMPARE(resumed->replayed_tokens, std::int64_t(user_tokens + draws + 2));  // + "\n\n"
        Xoshiro256 expected;
        QVERIFY(expected.set_state({1, 2, 3, 4}));
        for (std::size_t i = 0; i < draws; ++i) (void)expected.next_double();
        QVERIFY(runner.sampler().rng().state() == expected.state());
        auto next = runner.send(conv, reply, "More", s);
        QVERIFY(next.ok());
        QCOMPARE(next->user.tokens,
                 ctx->tokenizer->encode(ctx->chat_template.next_turn("More", true)));
    }

    // A reply stopped before its first token fed nothing and did not end a turn: the next user
    // turn carries the separator, and a replay feeds exactly what was fed (it used to be taken
    // for an import without ids, replayed as " \n\n", and the next turn lost its separator).
    void aReplyStoppedBeforeItsFirstToken() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto ctx = context("tiny-5v2-730K");
        QVERIFY(ctx.ok());
        const auto s = settings(12);
        const std::string db = fresh_db();
        std::int64_t conv = 0, last = 0, fed = 0;
        {
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            conv = runner.create("t", s)->id;
            const std::atomic<bool> stopped{true};
            ReplyOptions cancel;
            cancel.cancel = &stopped;
            auto a = runner.send(conv, std::nullopt, "Hi", s, cancel);
            QVERIFY(a.ok());
            QVERIFY(a->reply.tokens.empty() && a->reply.text.empty());
            auto b = runner.send(conv, a->reply.id, "More", s);
            QVERIFY(b.ok());
            QCOMPARE(b->user.tokens,
                     ctx->tokenizer->encode(ctx->chat_template.next_turn("More", false)));
            last = b->reply.id;
            fed = std::int64_t(a->user.tokens.size() + b->user.tokens.size() +
                               b->reply.tokens.size());
        }
        raw_exec(db, "DELETE FROM snapshots");
        auto store = Store::open(db);
        ConversationRunner runner(*store, *ctx);
        auto resumed = runner.resume_to(conv, last);
        QVERIFY2(resumed.ok(), resumed.ok() ? "" : resumed.message().c_str());
        QCOMPARE(resumed->replayed_tokens, fed);
    }

    // A snapshot of this model whose count disagrees with the transcript (another writer's
    // convention, e.g. the app's system prompt kept outside the transcript) is skipped and left
    // as it is, not overwritten with the rebuilt state.
    void aSnapshotOfAnotherConventionIsLeftAlone() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto ctx = context("tiny-5v2-730K");
        QVERIFY(ctx.ok());
        const auto s = settings(8);
        const std::string db = fresh_db();
        std::int64_t conv = 0, user = 0, reply = 0;
        {
            auto store = Store::open(db);
            ConversationRunner runner(*store, *ctx);
            conv = runner.create("t", s)->id;
            auto a = runner.send(conv, std::nullopt, "Hi", s);
            QVERIFY(a.ok());
            user = a->user.id;
            reply = a->reply.id;
        }
        // One more token in the transcript than the snapshot counts.
        raw_exec(db,
                 "UPDATE messages SET tokens = CAST(tokens || x'41000000' AS BLOB), token_count = "
                 "token_count + 1 WHERE id = " +
                     std::to_string(user));
        auto store = Store::open(db);
        const auto before = store->snapshot(reply);
        QVERIFY(before.ok() && before->has_value());
        ConversationRunner runner(*store, *ctx);
        auto resumed = runner.resume_to(conv, reply);
        QVERIFY2(resumed.ok(), resumed.ok() ? "" : resumed.message().c_str());
        QVERIFY(!resumed->from_snapshot);
        const auto after = store->snapshot(reply);
        QVERIFY(after.ok() && after->has_value());
        QVERIFY((*after)->blob == (*before)->blob);
    }

    // Branches: a regenerated reply and an edited question are siblings; each continues from
    // its parent's state.
    void branching() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto ctx = context("tiny-5v2-730K");
        QVERIFY(ctx.ok());
        const auto s = settings(16);
        auto store = Store::open(fresh_db());
        ConversationRunner runner(*store, *ctx);
        const auto conv = runner.create("b", s, "Sys.")->id;
        const auto sys = store->latest_message(conv)->value().id;
        auto a = runner.send(conv, sys, "Hi", s);
        auto b = runner.send(conv, a->reply.id, "Next", s);
        QVERIFY(b.ok());
        auto regen = runner.regenerate(b->reply.id, s);
        QVERIFY2(regen.ok(), regen.ok() ? "" : regen.message().c_str());
        QCOMPARE(*regen->reply.parent_id, b->user.id);
        QCOMPARE(regen->reply.sibling_order, std::int64_t(1));
        QVERIFY(regen->reply.tokens != b->reply.tokens);  // re-seeded

        auto edited = runner.edit(b->user.id, "Something else", s);
        QVERIFY(edited.ok());
        QCOMPARE(*edited->user.parent_id, a->reply.id);
        QCOMPARE(edited->user.sibling_order, std::int64_t(1));

        // Each branch resumes exactly in a fresh runner (state rebuilt or loaded from snapshots)
        // and continues identically to a continuation in the live runner.
        auto more_live = runner.send(conv, regen->reply.id, "Again", s);
        QVERIFY(more_live.ok());
        QVERIFY(store->delete_message(more_live->user.id).ok());
        ConversationRunner fresh(*store, *ctx);
        auto more = fresh.send(conv, regen->reply.id, "Again", s);
        QVERIFY(more.ok());
        QVERIFY(more->resume.from_snapshot);
        QCOMPARE(more->reply.tokens, more_live->reply.tokens);

        // A regenerated reply replays exactly once its snapshot is gone.
        QVERIFY(store->delete_message(more->user.id).ok());
        QVERIFY(store->delete_snapshot(regen->reply.id).ok());
        ConversationRunner fresh2(*store, *ctx);
        auto again = fresh2.send(conv, regen->reply.id, "Again", s);
        QVERIFY(again.ok());
        QVERIFY(again->resume.replayed_tokens > 0);
        QCOMPARE(again->reply.tokens, more_live->reply.tokens);
    }
};

QTEST_GUILESS_MAIN(TestConversation)
#include "test_conversation.moc"
