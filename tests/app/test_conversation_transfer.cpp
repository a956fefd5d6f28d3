// Conversations leave and enter Ravel as JSON or Markdown without loss; a state-tuning file
// becomes a conversation's starting state, checked against the model's shapes.
#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include "conversation/runner.hpp"
#include "conversation/state_file.hpp"
#include "conversation/transfer.hpp"
#include "ravel/resume_record.hpp"
#include "test_data.hpp"

using namespace ravel;
using namespace ravel::conversation;
using storage::Role;
using storage::Store;

namespace {

// A minimal safetensors writer: F32 tensors, in the order given.
void write_safetensors(
    const std::string& path,
    const std::vector<
        std::pair<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>>>& ts) {
    nlohmann::json header = nlohmann::json::object();
    std::size_t offset = 0;
    for (const auto& [name, t] : ts) {
        header[name] = {{"dtype", "F32"},
                        {"shape", t.first},
                        {"data_offsets", {offset, offset + t.second.size() * 4}}};
        offset += t.second.size() * 4;
    }
    std::string h = header.dump();
    while (h.size() % 8) h += ' ';
    std::ofstream out(path, std::ios::binary);
    const std::uint64_t n = h.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(h.data(), std::streamsize(h.size()));
    for (const auto& [name, t] : ts) {
        out.write(reinterpret_cast<const char*>(t.second.data()),
                  std::streamsize(t.second.size() * 4));
    }
}

SamplerSettings settings(int max_tokens) {
    SamplerSettings s = SamplerSettings::chat_defaults();
    s.top_p = 0.9f;
    s.seed = 7;
    s.max_tokens = max_tokens;
    return s;
}

}  // namespace

class TestConversationTransfer : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    int n_ = 0;
    std::string fresh_db() { return dir_.filePath(QString("t%1.db").arg(++n_)).toStdString(); }

    Result<ModelContext> context(const std::string& name) {
        ModelContextOptions o;
        o.tokenizer = TokenizerKind::Byte;
        o.fingerprint_cache = dir_.filePath("fp.json").toStdString();
        return load_model_context(test::shared_data_dir() / "models" / name / "model.pth", o);
    }

  private slots:
    void base64() {
        for (std::size_t n = 0; n < 70; ++n) {
            std::vector<std::byte> b(n);
            for (std::size_t i = 0; i < n; ++i) b[i] = std::byte(i * 37 + 11);
            const auto text = base64_encode(b);
            QCOMPARE(text.size(), (n + 2) / 3 * 4);
            auto back = base64_decode(text);
            QVERIFY(back.has_value() && *back == b);
        }
        QCOMPARE(base64_encode(std::as_bytes(std::span("Man", 3))), std::string("TWFu"));
        QCOMPARE(base64_encode(std::as_bytes(std::span("Ma", 2))), std::string("TWE="));
        QVERIFY(!base64_decode("TWF").has_value());
        QVERIFY(!base64_decode("TW=u").has_value());
        QVERIFY(!base64_decode("TW*u").has_value());
    }

    void jsonRoundTrip() {
        auto a = Store::open(fresh_db());
        auto c = a->create_conversation("Trip ✓", R"({"sampler":{"seed":3}})");
        auto add = [&](std::optional<std::int64_t> parent, Role r, std::string text,
                       std::vector<std::int32_t> tokens = {}) {
            storage::NewMessage m;
            m.conversation_id = c->id;
            m.parent_id = parent;
            m.role = r;
            m.text = std::move(text);
            m.tokens = std::move(tokens);
            m.settings_json = R"({"stop_reason":"stop_sequence"})";
            return *a->add_message(m);
        };
        auto sys = add({}, Role::System, "sys");
        auto u = add(sys.id, Role::User, "q \"quoted\"\nline", {1, 2, 3});
        auto r1 = add(u.id, Role::Assistant, " answer", {4, 5});
        auto r2 = add(u.id, Role::Assistant, " other answer", {6});
        std::vector<std::byte> blob(1000);
        for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = std::byte(i % 251);
        QVERIFY(a->put_snapshot(r2.id, blob, "0123456789abcdef0123456789abcdef").ok());
        // The starting state is a resume record (import checks it decodes).
        ModelConfig tiny;
        tiny.arch = Arch::V4;
        tiny.n_layer = 1;
        tiny.n_embd = 8;
        tiny.n_vocab = 256;
        ResumeRecord start;
        start.state = State(tiny);
        start.tokenizer_id = "byte-256";
        const ResumeBlob start_blob = encode_resume_record(start);
        QVERIFY(a->set_start_state(c->id, start_blob, "tuned.pth").ok());

        ExportOptions o;
        o.include_snapshots = true;
        auto text = export_json(*a, c->id, o);
        QVERIFY(text.ok());
        auto doc = nlohmann::json::parse(*text);
        QCOMPARE(doc["format"].get<std::string>(), std::string("ravel-conversation"));
        QCOMPARE(doc["messages"].size(), std::size_t(4));

        auto b = Store::open(fresh_db());
        auto id = import_json(*b, *text);
        QVERIFY2(id.ok(), id.ok() ? "" : id.message().c_str());
        auto conv = b->conversation(*id);
        QCOMPARE(conv->title, std::string("Trip ✓"));
        QVERIFY(conv->has_start_state);
        QVERIFY(std::ranges::equal(**b->start_state(*id), start_blob));
        auto msgs = b->messages(*id);
        QCOMPARE(msgs->size(), std::size_t(4));
        const auto& m = *msgs;
        QCOMPARE(m[1].text, u.text);
        QVERIFY(m[1].tokens == u.tokens);
        QCOMPARE(*m[2].parent_id, m[1].id);
        QCOMPARE(*m[3].parent_id, m[1].id);
        QCOMPARE(m[3].sibling_order, std::int64_t(1));
        QCOMPARE(m[3].created_ms, r2.created_ms);
        QVERIFY(nlohmann::json::parse(m[3].settings_json) ==
                nlohmann::json::parse(r2.settings_json));
        auto snap = b->snapshot(m[3].id);
        QVERIFY(snap->has_value() && (*snap)->blob == blob);
        QVERIFY(!b->snapshot(m[2].id)->has_value());
        (void)r1;

        // Export of the import equals the original apart from ids and times.
        auto again = export_json(*b, *id, o);
        auto d2 = nlohmann::json::parse(*again);
        for (std::size_t i = 0; i < 4; ++i) {
            QVERIFY(d2["messages"][i]["text"] == doc["messages"][i]["text"]);
            QVERIFY(d2["messages"][i]["tokens"] == doc["messages"][i]["tokens"]);
        }
    }

    void hostileJson() {
        auto s = Store::open(fresh_db());
        const auto before = s->list_conversations()->size();
        const char* bad[] = {
            "not json",
            R"({"format":"other","version":1,"title":"x","messages":[]})",
            R"({"format":"ravel-conversation","version":2,"title":"x","messages":[]})",
            R"({"format":"ravel-conversation","version":1,"title":5,"messages":[]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[{"id":1,"parent":2,"role":"user","text":"a"},{"id":2,"role":"user","text":"b"}]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[{"id":1,"role":"robot","text":"a"}]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[{"id":1,"role":"user","text":"a","tokens":[-1]}]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[{"id":1,"role":"user","text":"a"},{"id":1,"role":"user","text":"b"}]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","start_state":{"base64":"@@@@"},"messages":[]})",
            // Fields of the wrong type are errors, not exceptions.
            R"({"format":1,"version":1,"title":"x","messages":[]})",
            R"({"format":["ravel-conversation"],"version":1,"title":"x","messages":[]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","start_state":{"base64":5},"messages":[]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","start_state":{"base64":"","name":{}},"messages":[]})",
            // What would make every later resume fail is refused at import: settings out of
            // range, a starting state that is no resume record, a reply with ids at the root,
            // more ids than a typed message's text can have, a damaged generator state.
            R"({"format":"ravel-conversation","version":1,"title":"x","settings":{"sampler":{"temperature":99}},"messages":[]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[{"id":1,"role":"user","text":"a"},{"id":2,"parent":1,"role":"assistant","text":"b","settings":{"sampler":{"top_p":7}}}]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","start_state":{"base64":"AAAA","name":"s"},"messages":[]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[{"id":1,"role":"assistant","text":"b","tokens":[98]}]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[{"id":1,"role":"user","text":"","tokens":[)"
            "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]})",
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[{"id":1,"role":"user","text":"a"},{"id":2,"parent":1,"role":"assistant","text":"b","tokens":[98],"settings":{"rng_state":[0,0,0,0]}}]})",
        };
        for (const char* text : bad) QVERIFY2(!import_json(*s, text).ok(), text);
        QCOMPARE(s->list_conversations()->size(), before);
    }

    // A snapshot whose fields have the wrong types is dropped; the messages import.
    void badSnapshotFieldsAreDropped() {
        auto s = Store::open(fresh_db());
        const char* text =
            R"({"format":"ravel-conversation","version":1,"title":"x","messages":[)"
            R"({"id":1,"role":"user","text":"a","snapshot":{"model_fingerprint":7,"base64":"AAAA"}},)"
            R"({"id":2,"parent":1,"role":"assistant","text":"b","snapshot":{"base64":[1]}}]})";
        auto id = import_json(*s, text);
        QVERIFY2(id.ok(), id.ok() ? "" : id.message().c_str());
        auto msgs = s->messages(*id);
        QCOMPARE(msgs->size(), std::size_t(2));
        QVERIFY(!s->snapshot((*msgs)[0].id)->has_value());
        QVERIFY(!s->snapshot((*msgs)[1].id)->has_value());
    }

    // Rows that are not UTF-8 (written by something other than an import) still export as
    // JSON, their bad bytes as U+FFFD, instead of failing.
    void jsonExportOfNonUtf8Text() {
        auto s = Store::open(fresh_db());
        auto c = s->create_conversation("bad \xff title");
        storage::NewMessage m;
        m.conversation_id = c->id;
        m.role = Role::User;
        m.text = "caf\xe9 ok";
        QVERIFY(s->add_message(m).ok());
        auto text = export_json(*s, c->id);
        QVERIFY2(text.ok(), text.ok() ? "" : text.message().c_str());
        auto doc = nlohmann::json::parse(*text);
        QCOMPARE(doc["title"].get<std::string>(), std::string("bad \xEF\xBF\xBD title"));
        QCOMPARE(doc["messages"][0]["text"].get<std::string>(), std::string("caf\xEF\xBF\xBD ok"));
    }

    void markdownRoundTrip() {
        auto s = Store::open(fresh_db());
        auto c = s->create_conversation("Notes");
        std::optional<std::int64_t> parent;
        const std::vector<std::pair<Role, std::string>> turns = {{Role::System, "Be kind."},
                                                                 {Role::User, "Line one\nline two"},
                                                                 {Role::Assistant, " A reply."},
                                                                 {Role::User, "Thanks"},
                                                                 {Role::Assistant, "CR\n\r"}};
        for (const auto& [r, t] : turns) {
            storage::NewMessage m;
            m.conversation_id = c->id;
            m.parent_id = parent;
            m.role = r;
            m.text = t;
            parent = s->add_message(m)->id;
        }
        auto md = export_markdown(*s, c->id);
        QVERIFY(md.ok());
        QVERIFY(md->find("# Notes\n") == 0);
        QVERIFY(md->find("## Assistant\n\nA reply.\n") != std::string::npos);
        auto id = import_markdown(*s, *md);
        QVERIFY(id.ok());
        auto msgs = s->messages(*id);
        QCOMPARE(msgs->size(), turns.size());
        QCOMPARE(s->conversation(*id)->title, std::string("Notes"));
        QCOMPARE((*msgs)[1].text, std::string("Line one\nline two"));
        QCOMPARE((*msgs)[2].text, std::string("A reply."));
        QCOMPARE((*msgs)[2].role, Role::Assistant);
        // Blank space at the ends, carriage returns included, goes; a second trip changes nothing.
        QCOMPARE((*msgs)[4].text, std::string("CR"));
        QCOMPARE(*export_markdown(*s, *id), *md);
        QVERIFY(!import_markdown(*s, "no headings here").ok());
        // An empty conversation exports as its title alone, and imports back.
        auto empty = s->create_conversation("Nothing yet");
        QVERIFY(empty.ok());
        auto empty_md = export_markdown(*s, empty->id);
        QVERIFY(empty_md.ok());
        auto empty_back = import_markdown(*s, *empty_md);
        QVERIFY2(empty_back.ok(), empty_back.ok() ? "" : empty_back.message().c_str());
        QCOMPARE(s->conversation(*empty_back)->title, std::string("Nothing yet"));
        QCOMPARE(s->messages(*empty_back)->size(), std::size_t(0));
        // A branch is only exported from its own conversation.
        QVERIFY(export_markdown(*s, *id, (*msgs)[4].id).ok());
        QVERIFY(!export_markdown(*s, c->id, (*msgs)[4].id).ok());
    }

    // A message that quotes a section heading stays one message with its text unchanged, and
    // a title with line breaks stays the title.
    void markdownQuotedHeadings() {
        auto s = Store::open(fresh_db());
        auto c = s->create_conversation("Two\nlines");
        const std::string quoted = "Write this:\n## User\n\\## Assistant\n## System\r\nend";
        storage::NewMessage m;
        m.conversation_id = c->id;
        m.role = Role::User;
        m.text = quoted;
        const auto first = s->add_message(m)->id;
        m.parent_id = first;
        m.role = Role::Assistant;
        m.text = "## Assistant";
        QVERIFY(s->add_message(m).ok());
        auto md = export_markdown(*s, c->id);
        QVERIFY(md.ok());
        QVERIFY(md->find("\n\\## User\n\\\\## Assistant\n\\## System\r\n") != std::string::npos);
        auto id = import_markdown(*s, *md);
        QVERIFY(id.ok());
        QCOMPARE(s->conversation(*id)->title, std::string("Two lines"));
        auto msgs = s->messages(*id);
        QCOMPARE(msgs->size(), std::size_t(2));
        // The importer drops one carriage return per line end, as for any CRLF file.
        QCOMPARE((*msgs)[0].text,
                 std::string("Write this:\n## User\n\\## Assistant\n## System\nend"));
        QCOMPARE((*msgs)[1].text, std::string("## Assistant"));
        QCOMPARE((*msgs)[1].role, Role::Assistant);
    }

    void markdownMustBeUtf8() {
        auto s = Store::open(fresh_db());
        const auto before = s->list_conversations()->size();
        auto id = import_markdown(*s, "# T\n\n## User\n\ncaf\xe9\n");
        QVERIFY(!id.ok());
        QVERIFY2(id.message().find("byte 17") != std::string::npos, id.message().c_str());
        QCOMPARE(s->list_conversations()->size(), before);
        QVERIFY(import_markdown(*s, "# T\n\n## User\n\ncaf\xc3\xa9\n").ok());
    }

    // The transcript alone (exported without snapshots) continues exactly in another database.
    void importedTranscriptContinuesExactly() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto ctx = context("tiny-7v0-834K");
        QVERIFY(ctx.ok());
        const auto s = settings(20);
        auto a = Store::open(fresh_db());
        ConversationRunner runner(*a, *ctx);
        const auto conv = runner.create("x", s, "Sys")->id;
        auto t1 = runner.send(conv, a->latest_message(conv)->value().id, "Hi", s);
        QVERIFY(t1.ok());
        auto json_text = export_json(*a, conv);
        auto t2 = runner.send(conv, t1->reply.id, "More", s);
        QVERIFY(t2.ok());

        auto b = Store::open(fresh_db());
        auto id = import_json(*b, *json_text);
        QVERIFY(id.ok());
        ConversationRunner other(*b, *ctx);
        auto last = b->latest_message(*id)->value();
        auto t2b = other.send(*id, last.id, "More", s);
        QVERIFY(t2b.ok());
        QVERIFY(!t2b->resume.from_snapshot);
        QCOMPARE(t2b->reply.tokens, t2->reply.tokens);
    }

    void stateFile() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto ctx = context("tiny-5v2-730K");
        QVERIFY(ctx.ok());
        const auto& cfg = ctx->model->config();
        const int H = cfg.n_head, N = cfg.head_size;
        std::vector<
            std::pair<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>>>
            ts;
        for (int l = 0; l < cfg.n_layer; ++l) {
            std::vector<float> v(std::size_t(H) * N * N);
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.2f * float((i * 7 + l) % 97) - 9.0f;
            ts.push_back({"blocks." + std::to_string(l) + ".att.time_state", {{H, N, N}, v}});
        }
        const std::string good = dir_.filePath("state.safetensors").toStdString();
        write_safetensors(good, ts);
        auto st = load_state_file(good, cfg);
        QVERIFY2(st.ok(), st.ok() ? "" : st.message().c_str());
        // Transposed in the last two axes into att_kv; token shifts zero.
        for (const auto& slice : st->layout()) {
            if (slice.name == "blocks.3.att_kv") {
                const auto& src = ts[3].second.second;
                const float* dst = st->values().data() + slice.offset;
                for (int h = 0; h < H; h += 3) {
                    for (int i = 0; i < N; ++i) {
                        for (int j = 0; j < N; ++j) {
                            QCOMPARE(dst[(h * N + i) * N + j], src[(h * N + j) * N + i]);
                        }
                    }
                }
            } else if (slice.name.find("x_prev") != std::string::npos) {
                for (std::size_t k = 0; k < slice.count; ++k)
                    QCOMPARE(st->values()[slice.offset + k], 0.0f);
            }
        }
        // Wrong shape, a missing layer, an extra layer: refused with the tensor named.
        auto wrong = ts;
        wrong[2].second.first = {H, N, N / 2};
        wrong[2].second.second.resize(std::size_t(H) * N * (N / 2));
        write_safetensors(dir_.filePath("wrong.safetensors").toStdString(), wrong);
        auto e1 = load_state_file(dir_.filePath("wrong.safetensors").toStdString(), cfg);
        QVERIFY(!e1.ok() && e1.message().find("blocks.2.att.time_state") != std::string::npos);
        auto missing = ts;
        missing.pop_back();
        write_safetensors(dir_.filePath("missing.safetensors").toStdString(), missing);
        QVERIFY(!load_state_file(dir_.filePath("missing.safetensors").toStdString(), cfg).ok());
        auto extra = ts;
        extra.push_back({"blocks.99.att.time_state", ts[0].second});
        write_safetensors(dir_.filePath("extra.safetensors").toStdString(), extra);
        QVERIFY(!load_state_file(dir_.filePath("extra.safetensors").toStdString(), cfg).ok());

        {
            Session z(ctx->model), w(ctx->model);
            QVERIFY(w.set_state(*st).ok());
            const std::vector<std::int32_t> hi = {72, 105};
            QVERIFY(z.feed(hi).ok());
            QVERIFY(w.feed(hi).ok());
            float diff = 0;
            for (std::size_t i = 0; i < z.logits().size(); ++i)
                diff = std::max(diff, std::abs(z.logits()[i] - w.logits()[i]));
            Session z1(ctx->model), w1(ctx->model);
            QVERIFY(w1.set_state(*st).ok());
            (void)z1.step(72);
            (void)w1.step(72);
            float diff1 = 0;
            for (std::size_t i = 0; i < z1.logits().size(); ++i)
                diff1 = std::max(diff1, std::abs(z1.logits()[i] - w1.logits()[i]));
            // The starting state is really used (its effect fades over a long prompt).
            QVERIFY(diff > 1e-2f);
            QVERIFY(diff1 > 1e-2f);
        }
        // As a conversation's starting state: a fresh runner replays from it exactly.
        const auto s = settings(20);
        auto store = Store::open(fresh_db());
        ConversationRunner runner(*store, *ctx);
        const auto plain = runner.create("plain", s)->id;
        auto p = runner.send(plain, std::nullopt, "Hi", s);
        const auto tuned = runner.create("tuned", s)->id;
        QVERIFY(set_start_state_from_file(*store, tuned, *ctx, good).ok());
        runner.forget_live();
        auto at_start = runner.resume_to(tuned, std::nullopt);
        QVERIFY(at_start.ok());
        QVERIFY(runner.session().state() == *st);
        auto t = runner.send(tuned, std::nullopt, "Hi", s);
        QVERIFY(t.ok());
        QVERIFY(p.ok());
        auto t2 = runner.send(tuned, t->reply.id, "More", s);
        QVERIFY(t2.ok());
        QVERIFY(store->delete_message(t2->user.id).ok());
        QVERIFY(store->delete_snapshot(t->reply.id).ok());
        ConversationRunner fresh(*store, *ctx);
        auto t2b = fresh.send(tuned, t->reply.id, "More", s);
        QVERIFY(t2b.ok());
        QVERIFY(!t2b->resume.from_snapshot);
        QCOMPARE(t2b->reply.tokens, t2->reply.tokens);

        auto v4 = context("tiny-4v0-660K");
        QVERIFY(!load_state_file(good, v4->model->config()).ok());
    }
};

QTEST_GUILESS_MAIN(TestConversationTransfer)
#include "test_conversation_transfer.moc"
