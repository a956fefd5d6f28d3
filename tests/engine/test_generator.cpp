// Generator: stop sequences are never shown, max tokens, cancellation, streaming, determinism.
// The model tests use the byte-level tiny RWKV 5.2 model from the shared reference data.
#include <QtTest>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "ravel/generator.hpp"
#include "ravel/model.hpp"
#include "ravel/session.hpp"
#include "ravel/tokenizer.hpp"
#include "test_data.hpp"

using namespace ravel;

namespace {

std::vector<std::string> feed_pieces(StopMatcher& m, const std::vector<std::string>& pieces,
                                     std::string& shown) {
    std::vector<std::string> outs;
    for (const auto& p : pieces) {
        outs.push_back(m.push(p));
        shown += outs.back();
    }
    return outs;
}

// Bans every byte except `allowed`.
std::vector<std::int32_t> ban_all_but(std::string_view allowed) {
    std::vector<std::int32_t> bans;
    for (int b = 0; b < 256; ++b) {
        if (allowed.find(static_cast<char>(b)) == std::string_view::npos) bans.push_back(b);
    }
    return bans;
}

}  // namespace

class TestGenerator : public QObject {
    Q_OBJECT

    std::shared_ptr<const Model> model_;
    std::unique_ptr<Tokenizer> bytes_ = make_byte_tokenizer();

    std::shared_ptr<const Model> model() {
        if (!model_) {
            auto m = Model::load(test::shared_data_dir() / "models/tiny-5v2-730K/model.pth");
            if (!m) qFatal("cannot load tiny model: %s", m.message().c_str());
            model_ = *m;
        }
        return model_;
    }

    Result<GenerationResult> run(Session& s, Sampler& sampler, std::string_view prompt,
                                 const GenerateOptions& o = {}, const PieceCallback& cb = {}) {
        const auto tokens = bytes_->encode(prompt);
        return generate(s, *bytes_, sampler, tokens, o, cb);
    }

  private slots:
    void stopMatcherHoldsBackPrefixes() {
        StopMatcher m({"\n\n", "END"});
        std::string shown;
        auto outs = feed_pieces(m, {"Hello", " world\n", "more\n", "\nafter"}, shown);
        QCOMPARE(outs[0], std::string("Hello"));
        QCOMPARE(outs[1], std::string(" world"));  // "\n" might start "\n\n"
        QCOMPARE(outs[2], std::string("\nmore"));  // it did not; the next "\n" is held
        QCOMPARE(outs[3], std::string(""));
        QVERIFY(m.stopped());
        QCOMPARE(std::string(m.matched()), std::string("\n\n"));
        QCOMPARE(shown, std::string("Hello world\nmore"));
        QCOMPARE(m.push("ignored"), std::string());
        QCOMPARE(m.flush(), std::string());
    }

    void stopMatcherAcrossPiecesAndEarliestWins() {
        StopMatcher m({"STOP", "OP"});
        std::string shown;
        feed_pieces(m, {"abcST", "O", "Pxyz"}, shown);
        QVERIFY(m.stopped());
        QCOMPARE(std::string(m.matched()), std::string("STOP"));  // starts earlier than "OP"
        QCOMPARE(shown, std::string("abc"));

        // One containing another: the first to complete wins, however the text is split.
        for (const auto& pieces : std::vector<std::vector<std::string>>{
                 {"xabcd"}, {"xabc", "d"}, {"xa", "b", "c", "d"}}) {
            StopMatcher both({"abcd", "bc"});
            std::string seen;
            feed_pieces(both, pieces, seen);
            QVERIFY(both.stopped());
            QCOMPARE(std::string(both.matched()), std::string("bc"));
            QCOMPARE(seen, std::string("xa"));
        }

        StopMatcher n({"END"});
        std::string shown2;
        feed_pieces(n, {"the E", "N"}, shown2);
        QCOMPARE(shown2, std::string("the "));
        QCOMPARE(n.held_bytes(), std::size_t{2});
        QCOMPARE(n.flush(), std::string("EN"));  // the reply ended without the stop
        QVERIFY(!n.stopped());

        StopMatcher none;
        QCOMPARE(none.push("a\n\n"), std::string("a\n\n"));
    }

    void penaltyMaskExemptsSpacesAndDigits() {
        auto mask = penalty_exempt_mask(*bytes_);
        QCOMPARE(mask->size(), std::size_t{256});
        QVERIFY((*mask)[' '] && (*mask)['\t'] && (*mask)['0'] && (*mask)['9']);
        QVERIFY(!(*mask)['a'] && !(*mask)['\n'] && !(*mask)['.']);
    }

    void errorsWithoutLogits() {
        RAVEL_REQUIRE_SHARED_DATA();
        Session s(model());
        Sampler sampler;
        auto r = run(s, sampler, "");
        QVERIFY(!r.ok());
        QVERIFY(r.message().find("no tokens") != std::string::npos);
    }

    void stopsAtBlankLineWithoutShowingIt() {
        RAVEL_REQUIRE_SHARED_DATA();
        // Only '\n' may be sampled: the reply is empty and ends after exactly two tokens.
        {
            Session s(model());
            SamplerSettings st;
            st.banned_tokens = ban_all_but("\n");
            Sampler sampler(st);
            GenerateOptions o;
            o.stop_sequences = {"\n\n"};
            int pieces = 0;
            auto r = run(s, sampler, "User: hi\n\nAssistant:", o, [&](std::string_view) {
                ++pieces;
                return true;
            });
            QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
            QCOMPARE(r->stop_reason, StopReason::StopSequence);
            QVERIFY(r->ended_at_blank_line());
            QCOMPARE(r->text, std::string());
            QCOMPARE(pieces, 0);
            QCOMPARE(r->prompt_tokens, std::int64_t{20});
            QCOMPARE(r->generated_tokens, std::int64_t{2});
            QCOMPARE(s.tokens_processed(), std::uint64_t{22});
        }
        // 'a' and '\n', with penalties that make every repeat of 'a' (but not of '\n')
        // expensive: soon "\n\n" comes, and the stop text never reaches the callback.
        Session s(model());
        SamplerSettings st;
        st.banned_tokens = ban_all_but("a\n");
        st.presence_penalty = 2.0f;
        st.frequency_penalty = 2.0f;
        st.penalty_decay = 1.0f;
        st.seed = 3;
        Sampler sampler(st);
        auto newline_exempt = std::make_shared<std::vector<bool>>(256, false);
        (*newline_exempt)['\n'] = true;
        sampler.set_penalty_exempt(newline_exempt);
        GenerateOptions o;
        o.stop_sequences = {"\n\n"};
        o.max_tokens = 200;
        std::string streamed;
        auto r = run(s, sampler, "User: hi\n\nAssistant:", o, [&](std::string_view p) {
            streamed += p;
            return true;
        });
        QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
        QCOMPARE(r->stop_reason, StopReason::StopSequence);
        QCOMPARE(streamed, r->text);
        QVERIFY(r->text.find("\n\n") == std::string::npos);
        QVERIFY(r->text.empty() || r->text.back() != '\n');
        QCOMPARE(r->generated_tokens, static_cast<std::int64_t>(r->text.size() + 2));
    }

    void customStopSequenceCutsTheReply() {
        RAVEL_REQUIRE_SHARED_DATA();
        // First a free run to learn what the model writes, then stop at a piece of it.
        const std::string prompt = "The quick brown fox";
        SamplerSettings st;
        st.temperature = 0.0f;
        GenerateOptions o;
        o.max_tokens = 48;
        Session s1(model());
        Sampler g1(st);
        auto free_run = run(s1, g1, prompt, o);
        QVERIFY(free_run.ok());
        QCOMPARE(free_run->stop_reason, StopReason::MaxTokens);
        QCOMPARE(free_run->generated_tokens, std::int64_t{48});
        const std::string& text = free_run->text;
        QVERIFY(text.size() >= 20);
        const std::string stop = text.substr(12, 3);
        const std::size_t first = text.find(stop);

        Session s2(model());
        Sampler g2(st);
        o.stop_sequences = {stop};
        std::vector<std::string> pieces;
        auto cut = run(s2, g2, prompt, o, [&](std::string_view p) {
            pieces.emplace_back(p);
            return true;
        });
        QVERIFY(cut.ok());
        QCOMPARE(cut->stop_reason, StopReason::StopSequence);
        QCOMPARE(cut->stop_sequence, stop);
        QCOMPARE(cut->text, text.substr(0, first));
        std::string joined;
        for (const auto& p : pieces) joined += p;
        QCOMPARE(joined, cut->text);
        QCOMPARE(cut->generated_tokens, static_cast<std::int64_t>(first + stop.size()));
    }

    void maxTokensAndSeededDeterminism() {
        RAVEL_REQUIRE_SHARED_DATA();
        SamplerSettings st = SamplerSettings::chat_defaults();
        st.top_p = 0.9f;
        st.seed = 42;
        st.max_tokens = 30;
        auto once = [&] {
            Session s(model());
            Sampler sampler(st);
            sampler.set_penalty_exempt(penalty_exempt_mask(*bytes_));
            auto r = run(s, sampler, "Hello");
            if (!r) qFatal("%s", r.message().c_str());
            return *r;
        };
        const auto a = once();
        QCOMPARE(a.stop_reason, StopReason::MaxTokens);
        QCOMPARE(a.generated_tokens, std::int64_t{30});
        QCOMPARE(a.prompt_tokens, std::int64_t{5});
        QVERIFY(a.generation_tokens_per_s() > 0.0);
        QVERIFY(a.prompt_tokens_per_s() > 0.0);
        QCOMPARE(once().text, a.text);
    }

    void resumedSamplerAndSessionContinueIdentically() {
        RAVEL_REQUIRE_SHARED_DATA();
        SamplerSettings st = SamplerSettings::chat_defaults();
        st.top_p = 0.95f;
        st.seed = 7;
        GenerateOptions o;
        o.max_tokens = 20;
        Session s(model());
        Sampler sampler(st);
        QVERIFY(run(s, sampler, "Once upon a time", o).ok());
        // Freeze mid-conversation, continue the original, then continue the copy.
        Session copy = s;
        auto blob = sampler.save();
        auto first = run(s, sampler, "", o);
        auto restored = Sampler::restore(st, blob);
        QVERIFY(restored.ok());
        auto second = run(copy, *restored, "", o);
        QVERIFY(first.ok() && second.ok());
        QCOMPARE(second->text, first->text);
    }

    void endOfTextStopsAndIsBannedFirst() {
        RAVEL_REQUIRE_SHARED_DATA();
        SamplerSettings st;
        st.banned_tokens = ban_all_but("ab");
        st.temperature = 0.0f;
        GenerateOptions o;
        o.end_of_text = 'a';
        o.max_tokens = 10;
        // Banned at the first token: the reply starts with 'b' (the only other choice).
        Session s(model());
        Sampler sampler(st);
        auto r = run(s, sampler, "x", o);
        QVERIFY(r.ok());
        QVERIFY(!r->text.empty());
        QCOMPARE(r->text.front(), 'b');
        QVERIFY(r->text.find('a') == std::string::npos);
        QVERIFY(r->stop_reason == StopReason::EndOfText || r->stop_reason == StopReason::MaxTokens);
        // Without the first-token ban, greedy 'a' or 'b'; 'a' ends at once with nothing fed.
        st.banned_tokens = ban_all_but("a");
        o.ban_end_of_text_first = false;
        Session s2(model());
        Sampler only_a(st);
        auto r2 = run(s2, only_a, "x", o);
        QVERIFY(r2.ok());
        QCOMPARE(r2->stop_reason, StopReason::EndOfText);
        QCOMPARE(r2->generated_tokens, std::int64_t{0});
        QCOMPARE(s2.tokens_processed(), std::uint64_t{1});
    }

    void callbackAndCancelStop() {
        RAVEL_REQUIRE_SHARED_DATA();
        SamplerSettings st;
        st.seed = 5;
        st.banned_tokens = ban_all_but("abc ");  // every token is a visible piece
        GenerateOptions o;
        o.max_tokens = 50;
        {
            Session s(model());
            Sampler sampler(st);
            int calls = 0;
            auto r = run(s, sampler, "hi", o, [&](std::string_view) { return ++calls < 3; });
            QVERIFY(r.ok());
            QCOMPARE(r->stop_reason, StopReason::Callback);
            QCOMPARE(r->generated_tokens, std::int64_t{3});
        }
        {
            std::atomic<bool> cancel{false};
            o.cancel = &cancel;
            Session s(model());
            Sampler sampler(st);
            int calls = 0;
            auto r = run(s, sampler, "hi", o, [&](std::string_view) {
                if (++calls == 4) cancel = true;
                return true;
            });
            QVERIFY(r.ok());
            QCOMPARE(r->stop_reason, StopReason::Cancelled);
            QCOMPARE(r->generated_tokens, std::int64_t{4});
            QCOMPARE(static_cast<int>(r->text.size()), 4);
        }
        {
            // Cancelled before the prompt's first chunk: nothing is fed.
            std::atomic<bool> cancel{true};
            o.cancel = &cancel;
            o.chunk_size = 4;
            Session s(model());
            Sampler sampler(st);
            auto r = run(s, sampler, "a longer prompt", o);
            QVERIFY(r.ok());
            QCOMPARE(r->stop_reason, StopReason::Cancelled);
            QCOMPARE(r->prompt_tokens, std::int64_t{0});
            QCOMPARE(r->generated_tokens, std::int64_t{0});
            QCOMPARE(s.tokens_processed(), std::uint64_t{0});
        }
    }

    void samplesOnlyIdsTheTokenizerKnows() {
        RAVEL_REQUIRE_SHARED_DATA();
        // A 1000-id model with the 256-id byte tokenizer: ids 256..999 have no text.
        auto big = Model::load(test::shared_data_dir() /
                               "models/random-v7.0-L3-D128-H2x64-V1000/model.pth");
        QVERIFY2(big.ok(), big.ok() ? "" : big.message().c_str());
        Session s(*big);
        SamplerSettings st;
        st.penalty_decay = 1.0f;  // every accepted token keeps weight 1: the table counts them
        st.seed = 8;
        Sampler sampler(st);
        GenerateOptions o;
        o.max_tokens = 40;
        auto r = run(s, sampler, "hi", o);
        QVERIFY(r.ok());
        QCOMPARE(r->generated_tokens, std::int64_t{40});
        float counted = 0.0f;
        for (int id = 0; id < 256; ++id) counted += sampler.penalty_weight(id);
        QCOMPARE(counted, 40.0f);
    }

    // The ids fed are reported, and replaying them from the same start leaves the session and
    // the sampler (penalty table and random generator) exactly where generation left them.
    void tokensReplayToTheSameSessionAndSampler() {
        RAVEL_REQUIRE_SHARED_DATA();
        SamplerSettings st = SamplerSettings::chat_defaults();
        st.top_p = 0.9f;
        st.seed = 21;
        st.banned_tokens = ban_all_but("abcdefgh \n");
        GenerateOptions o;
        o.max_tokens = 25;
        const auto prompt = bytes_->encode("Some words");
        Session s(model());
        Sampler sampler(st);
        auto r = generate(s, *bytes_, sampler, prompt, o);
        QVERIFY(r.ok());
        QCOMPARE(r->tokens.size(), static_cast<std::size_t>(r->generated_tokens));
        QVERIFY(!r->drew_end_of_text);
        std::string fed;
        for (std::int32_t t : r->tokens) fed += static_cast<char>(t);
        if (r->stop_reason == StopReason::MaxTokens) QCOMPARE(r->text, fed);

        Session again(model());
        QVERIFY(again.feed(prompt).ok());
        Sampler replayed(st);
        QVERIFY(replay_generation(again, *bytes_, replayed, r->tokens, false, o).ok());
        QCOMPARE(again.tokens_processed(), s.tokens_processed());
        QVERIFY(replayed.save() == sampler.save());
        QVERIFY(std::equal(again.logits().begin(), again.logits().end(), s.logits().begin(),
                           s.logits().end()));
        // And both continue identically.
        auto next = generate(s, *bytes_, sampler, {}, o);
        auto next_replayed = generate(again, *bytes_, replayed, {}, o);
        QVERIFY(next.ok() && next_replayed.ok());
        QCOMPARE(next_replayed->tokens, next->tokens);
    }

    // An end-of-text draw moves the random generator: replay must repeat it.
    void replayRepeatsTheEndOfTextDraw() {
        RAVEL_REQUIRE_SHARED_DATA();
        SamplerSettings st;
        st.banned_tokens = ban_all_but("ab");
        st.seed = 2;
        GenerateOptions o;
        o.end_of_text = 'a';
        o.max_tokens = 200;
        const auto prompt = bytes_->encode("x");
        Session s(model());
        Sampler sampler(st);
        auto r = generate(s, *bytes_, sampler, prompt, o);
        QVERIFY(r.ok());
        QCOMPARE(r->stop_reason, StopReason::EndOfText);
        QVERIFY(r->drew_end_of_text);
        QVERIFY(!r->tokens.empty());
        for (std::int32_t t : r->tokens) QCOMPARE(t, std::int32_t{'b'});

        for (bool with_draw : {true, false}) {
            Session again(model());
            QVERIFY(again.feed(prompt).ok());
            Sampler replayed(st);
            QVERIFY(replay_generation(again, *bytes_, replayed, r->tokens, with_draw, o).ok());
            QCOMPARE(replayed.save() == sampler.save(), with_draw);
        }
    }

    // A reply rebuilt at prompt speed: its ids fed as a prompt and replay_sampler() give the
    // sampler generate() left (penalty table and random generator, byte for byte), and a state
    // whose logits differ only by the prompt path's rounding, so the next reply is the same.
    // With an end-of-text draw, and at temperature 0 (where sample() draws nothing).
    void samplerReplayWithoutStepsMatchesGeneration() {
        RAVEL_REQUIRE_SHARED_DATA();
        for (const float temperature : {1.0f, 0.0f}) {
            for (const bool end_with_draw : {false, true}) {
                SamplerSettings st = SamplerSettings::chat_defaults();
                st.temperature = temperature;
                st.top_p = 0.9f;
                st.banned_tokens = ban_all_but(end_with_draw ? "abcdefgh" : "abcdefgh \n");
                GenerateOptions o;
                o.max_tokens = 30;
                if (end_with_draw) o.end_of_text = 'a';
                const auto prompt = bytes_->encode("Some words");
                // A seed whose reply is long enough to go through the prompt path below (more
                // than 4 tokens, not single steps) and, where asked, ends with the draw.
                std::optional<Session> s;
                std::optional<Sampler> sampler;
                Result<GenerationResult> r = make_error("no seed gave a usable reply");
                for (std::uint64_t seed = 1; seed <= 64; ++seed) {
                    st.seed = seed;
                    s.emplace(model());
                    sampler.emplace(st);
                    r = generate(*s, *bytes_, *sampler, prompt, o);
                    QVERIFY(r.ok());
                    if (r->tokens.size() > 4 &&
                        (!end_with_draw || temperature == 0 || r->drew_end_of_text)) {
                        break;
                    }
                }
                QVERIFY2(r->tokens.size() > 4, "no seed gave a long enough reply");
                if (end_with_draw && temperature > 0) QVERIFY(r->drew_end_of_text);

                Session again(model());
                QVERIFY(again.feed(prompt).ok());
                QVERIFY(again.feed(r->tokens).ok());
                Sampler replayed(st);
                replay_sampler(replayed, r->tokens, r->drew_end_of_text);
                QVERIFY(replayed.save() == sampler->save());
                QCOMPARE(again.tokens_processed(), s->tokens_processed());
                float worst = 0.0f;
                for (std::size_t i = 0; i < s->logits().size(); ++i) {
                    worst = std::max(worst, std::abs(again.logits()[i] - s->logits()[i]));
                }
                QVERIFY2(worst < 1e-3f, std::to_string(worst).c_str());
                if (!end_with_draw) {
                    auto next = generate(*s, *bytes_, *sampler, {}, o);
                    auto next_replayed = generate(again, *bytes_, replayed, {}, o);
                    QVERIFY(next.ok() && next_replayed.ok());
                    QCOMPARE(next_replayed->tokens, next->tokens);
                }
                // Without the end-of-text draw the generator is one number behind.
                if (r->drew_end_of_text && temperature > 0) {
                    Sampler short_one(st);
                    replay_sampler(short_one, r->tokens, false);
                    QVERIFY(short_one.save() != sampler->save());
                }
            }
        }
    }

    // The state ends at a blank line whenever the fed bytes do, stop sequence or not.
    void blankLineFollowsTheFedBytes() {
        RAVEL_REQUIRE_SHARED_DATA();
        SamplerSettings st;
        st.banned_tokens = ban_all_but("\n");
        GenerateOptions o;
        o.max_tokens = 3;
        Session s(model());
        Sampler sampler(st);
        auto r = run(s, sampler, "hi", o);
        QVERIFY(r.ok());
        QCOMPARE(r->stop_reason, StopReason::MaxTokens);
        QVERIFY(r->ended_at_blank_line());
    }

    void chunkedPromptMatchesOneChunk() {
        RAVEL_REQUIRE_SHARED_DATA();
        SamplerSettings st;
        st.seed = 11;
        auto with_chunk = [&](int chunk) {
            Session s(model());
            Sampler sampler(st);
            GenerateOptions o;
            o.chunk_size = chunk;
            o.max_tokens = 16;
            auto r = run(s, sampler, "Chunked prompts give the same reply.", o);
            if (!r) qFatal("%s", r.message().c_str());
            return r->text;
        };
        QCOMPARE(with_chunk(5), with_chunk(64));
    }
};

QTEST_APPLESS_MAIN(TestGenerator)
#include "test_generator.moc"
