// Benchmark (not a test): resuming a conversation from its snapshot in the database versus
// re-processing its transcript. Default shape: a synthetic RWKV-7 0.1B (12 x 768, vocabulary
// 65536) and a 2,000-token transcript.
//   bench_resume [SPEC] [TOKENS]      e.g. bench_resume v7:12x768 2000
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "ravel/model.hpp"
#include "ravel/resume_record.hpp"
#include "ravel/sampler.hpp"
#include "ravel/session.hpp"
#include "storage/store.hpp"

using namespace ravel;
using Clock = std::chrono::steady_clock;

static double ms(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main(int argc, char** argv) {
    auto spec = parse_synthetic_spec(argc > 1 ? argv[1] : "v7:12x768");
    if (!spec) {
        std::fprintf(stderr, "%s\n", spec.message().c_str());
        return 2;
    }
    const int n_tokens = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2000;
    const auto t_load = Clock::now();
    auto model = Model::synthetic(*spec);
    if (!model) {
        std::fprintf(stderr, "%s\n", model.message().c_str());
        return 1;
    }
    const double load_ms = ms(t_load, Clock::now());
    std::mt19937 rng(1);
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(n_tokens));
    for (auto& t : tokens) t = static_cast<std::int32_t>(rng() % (*model)->config().n_vocab);

    // Re-processing the transcript: sequence mode, as a replay does.
    std::vector<double> reprocess;
    Session session(*model);
    for (int rep = 0; rep < 3; ++rep) {
        session.reset();
        const auto a = Clock::now();
        FeedOptions fo;
        fo.chunk_size = 64;
        if (auto r = session.feed(tokens, fo); !r) {
            std::fprintf(stderr, "%s\n", r.message().c_str());
            return 1;
        }
        reprocess.push_back(ms(a, Clock::now()));
    }

    Sampler sampler(SamplerSettings::chat_defaults());
    for (int i = 0; i < 200; ++i) sampler.accept(tokens[static_cast<std::size_t>(i)]);
    const std::string db = (std::filesystem::temp_directory_path() /
                            ("ravel-bench-resume-" + std::to_string(::getpid()) + ".db"))
                               .string();
    ModelFingerprint fp;
    fp.bytes[0] = 1;
    ResumeRecord record{session.state(),
                        {session.logits().begin(), session.logits().end()},
                        sampler.save(),
                        session.tokens_processed(),
                        fp,
                        "world"};
    const auto a = Clock::now();
    const auto blob = encode_resume_record(record);
    const double encode_ms = ms(a, Clock::now());
    std::int64_t msg = 0;
    double write_ms = 0;
    {
        auto store = storage::Store::open(db);
        if (!store) {
            std::fprintf(stderr, "%s\n", store.message().c_str());
            return 1;
        }
        auto c = store->create_conversation("bench");
        storage::NewMessage m;
        m.conversation_id = c->id;
        m.text = "x";
        msg = store->add_message(m)->id;
        const auto w = Clock::now();
        if (auto r = store->put_snapshot(msg, blob, fp.hex()); !r) return 1;
        write_ms = ms(w, Clock::now());
    }

    // Resume: open the database, read the snapshot, verify and decode it, restore session and
    // sampler — everything a new process does before it can generate.
    std::vector<double> resume;
    bool same = true;
    for (int rep = 0; rep < 7; ++rep) {
        const auto r0 = Clock::now();
        auto store = storage::Store::open(db);
        auto snap = store->snapshot(msg);
        auto rec = decode_resume_record((*snap)->blob);
        if (!rec) return 1;
        Session fresh(*model);
        if (auto r = fresh.restore(rec->state, rec->logits, rec->token_count); !r) return 1;
        auto sm = Sampler::restore(SamplerSettings::chat_defaults(), rec->sampler);
        if (!sm) return 1;
        resume.push_back(ms(r0, Clock::now()));
        same = same && fresh.state() == session.state();
    }
    std::filesystem::remove(db);
    std::filesystem::remove(db + "-wal");
    std::filesystem::remove(db + "-shm");

    const double rp = median(reprocess), rs = median(resume);
    std::printf(
        "{\"model\": \"v%s:%dx%d:%d\", \"transcript_tokens\": %d, \"load_ms\": %.1f, "
        "\"reprocess_ms\": %.2f, \"reprocess_tokens_per_s\": %.1f, \"snapshot_bytes\": %zu, "
        "\"encode_ms\": %.3f, \"snapshot_write_ms\": %.3f, \"resume_ms\": %.3f, "
        "\"speedup\": %.1f, \"state_identical\": %s}\n",
        std::string(arch_name((*model)->config().arch)).c_str(), (*model)->config().n_layer,
        (*model)->config().n_embd, (*model)->config().n_vocab, n_tokens, load_ms, rp,
        n_tokens * 1000.0 / rp, blob.size(), encode_ms, write_ms, rs, rp / rs,
        same ? "true" : "false");
    return same ? 0 : 1;
}
