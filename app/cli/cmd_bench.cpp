// ravel-cli bench: decode and prompt speed put next to this machine's limits, measured in
// the same run (DESIGN.md section 8).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <random>

#include "argmax.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "json_out.hpp"
#include "model_options.hpp"
#include "ravel/device.hpp"
#include "ravel/machine.hpp"
#include "ravel/resume_record.hpp"
#include "ravel/sampler.hpp"
#include "ravel/session.hpp"

namespace ravel::cli {

namespace {

constexpr const char* kUsage =
    "usage: ravel-cli bench (--model FILE | --synthetic v4|v5|v6|v7:LAYERSxWIDTH[:VOCAB])\n"
    "                       [--dtype f32|f16|bf16|q8_0|q5_1|q4_0] [--device cpu|cuda]\n"
    "                       [--threads N] [--prompt N] [--prompt-runs N] [--gen N]\n"
    "                       [--chunk N] [--json]\n"
    "Without --dtype: the file's own type (f32 for --synthetic).\n";

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Repeated timings of the same work. The mean is what a user waits on average. The fastest is
// the figure to put against the machine's limits: the probes report their best pass, and on a
// shared machine the slower samples are other tenants' doing, not the code's (comparing a best
// pass with a mean once put one build's f16 decode at 0.47 of the limit and at 0.69 in the
// next hour, its fastest tokens the same).
struct Timings {
    double mean = 0;
    double median = 0;
    double min = 0;
};

Timings summarise(std::vector<double> samples) {
    Timings t;
    if (samples.empty()) return t;
    std::sort(samples.begin(), samples.end());
    double total = 0;
    for (double s : samples) total += s;
    t.mean = total / static_cast<double>(samples.size());
    const std::size_t n = samples.size();
    t.median = n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
    t.min = samples.front();
    return t;
}

std::uint64_t peak_rss_bytes() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024u;
}

// The probe allocates a buffer as large as the weights; running it in a child process keeps
// that buffer out of this process's peak RSS.
Result<MachineProbe> probe_in_child(std::size_t working_set, int threads) {
    int fds[2];
    if (pipe(fds) != 0) return make_error("cannot create a pipe for the machine probe");
    const pid_t pid = fork();
    if (pid < 0) return make_error("cannot fork the machine probe");
    if (pid == 0) {
        close(fds[0]);
        const MachineProbe p = probe_machine(working_set, threads);
        const double values[2] = {p.read_bandwidth_gb_s, p.fma_gflop_s};
        const ssize_t written = write(fds[1], values, sizeof values);
        _exit(written == static_cast<ssize_t>(sizeof values) ? 0 : 1);
    }
    close(fds[1]);
    double values[2] = {0, 0};
    const ssize_t got = read(fds[0], values, sizeof values);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != static_cast<ssize_t>(sizeof values) || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        return make_error("the machine probe failed");
    }
    if (!(values[0] > 0) || !(values[1] > 0)) {
        // e.g. no memory for a read buffer as large as the weights: no limit to compare with.
        return make_error(
            "the machine probe could not measure the read bandwidth and FMA rate "
            "(is there memory for a buffer as large as the weights?)");
    }
    MachineProbe out;
    out.read_bandwidth_gb_s = values[0];
    out.fma_gflop_s = values[1];
    return out;
}

// Decode tokens each right after a read pass over as many bytes as the token reads.
struct PairedDecode {
    double fraction_median = 0;  // of (read pass time / token time), over the pairs
    double fraction_low = 0;     // first quartile
    double fraction_high = 0;    // third quartile
    double read_gb_s_median = 0;
};

// The read pass leaves the caches holding its buffer, so each token reads its weights from
// memory, as the limit assumes. It runs on the session's threads and the token follows at
// once, as in a reply a token follows the previous one's weights: the pool's workers are awake
// for both. (With a pool of its own and pauses for the other pool's workers to fall asleep,
// each pass and token began by waking a worker; the pass splits its work statically, so a late
// worker slowed it and not the token: paired fractions of 0.82-1.31 where passes on awake
// workers gave 0.76-0.81.)
Result<PairedDecode> paired_decode(Session& session, std::int32_t token, ReadPasses& reads,
                                   long long pairs) {
    std::vector<double> fractions, rates;
    for (long long i = 0; i < pairs; ++i) {
        const double read_s = reads.pass(session);
        const auto t0 = Clock::now();
        auto logits = session.step(token);
        if (!logits) return logits.error();
        const double token_s = ms_since(t0) / 1000.0;
        token = argmax(*logits);
        fractions.push_back(read_s / token_s);
        rates.push_back(static_cast<double>(reads.bytes()) / read_s / 1e9);
    }
    PairedDecode out;
    if (fractions.empty()) return out;
    std::sort(fractions.begin(), fractions.end());
    const std::size_t n = fractions.size();
    out.fraction_median = summarise(fractions).median;
    out.fraction_low = fractions[n / 4];
    out.fraction_high = fractions[(3 * n) / 4];
    out.read_gb_s_median = summarise(std::move(rates)).median;
    return out;
}

Result<nlohmann::json> run_bench(const Args& args) {
    auto threads = args.get_int("threads", default_thread_count(), 1, 256);
    if (!threads) return threads.error();
    auto prompt_n = args.get_int("prompt", 512, 0, 1 << 20);
    if (!prompt_n) return prompt_n.error();
    auto prompt_runs = args.get_int("prompt-runs", 3, 1, 100);
    if (!prompt_runs) return prompt_runs.error();
    auto gen_n = args.get_int("gen", 64, 1, 1 << 20);
    if (!gen_n) return gen_n.error();
    auto chunk_arg = args.get_int("chunk", 128, 1, 1 << 16);
    if (!chunk_arg) return chunk_arg.error();

    const auto t_load = Clock::now();
    Result<std::shared_ptr<const Model>> model = make_error("");
    std::string source;
    if (auto spec_text = args.get("synthetic")) {
        auto spec = parse_synthetic_spec(*spec_text);
        if (!spec) return spec.error();
        LoadOptions options;
        if (auto d = args.get("dtype")) {
            auto t = dtype_from_name(*d);
            if (!t) return make_error("unknown --dtype '" + *d + "'");
            options.weight_type = *t;
        }
        options.device = args.get_or("device", "cpu");
        model = Model::synthetic(*spec, options);
        if (model && !(*model)->device_note().empty()) {
            std::cerr << "ravel-cli: " << (*model)->device_note() << "\n";
        }
        source = "synthetic " + *spec_text;
    } else {
        model = load_model_from_args(args);
        source = args.get_or("model", "");
    }
    if (!model) return model.error();
    const double load_ms = ms_since(t_load);
    const ModelConfig& cfg = (*model)->config();
    const std::uint64_t weight_bytes = (*model)->weight_bytes_per_token();

    // On a GPU the limits are the GPU's: its copy bandwidth and cuBLAS GEMM rate.
    const bool on_gpu = (*model)->device() != "cpu";
    Result<MachineProbe> probe = make_error("");
    GpuProbe gpu_probe;
    if (on_gpu) {
        auto g = probe_gpu(std::stoi((*model)->device().substr(5)));
        if (!g) return g.error();
        gpu_probe = *g;
        MachineProbe m;
        m.read_bandwidth_gb_s = g->copy_gb_s;
        m.fma_gflop_s = g->gemm_tflop_s * 1000.0;
        probe = m;
    } else {
        probe = probe_in_child(weight_bytes, static_cast<int>(*threads));
    }
    if (!probe) return probe.error();
    // A GPU needs longer chunks than a CPU to keep its matrix units busy.
    const long long chunk_value =
        args.has("chunk") ? *chunk_arg : (on_gpu ? 512 : kDefaultPromptChunk);
    const long long* chunk = &chunk_value;

    Session session(*model, SessionOptions{static_cast<int>(*threads)});
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int> pick(0, cfg.n_vocab - 1);
    std::vector<std::int32_t> prompt(static_cast<std::size_t>(*prompt_n));
    for (auto& t : prompt) t = pick(rng);

    Timings prompt_ms;
    if (!prompt.empty()) {
        FeedOptions options;
        options.chunk_size = static_cast<int>(*chunk);
        // A warm-up of one whole chunk, so the workspace and GEMM buffers already have the size
        // the timed chunks need and their page faults are not timed (an 8-token warm-up left
        // them to the first timed chunk: 3-12% of a 512-token prompt on v7 0.1B f32).
        if (auto ok = session.feed(std::span(prompt).first(std::min<std::size_t>(
                                       prompt.size(), static_cast<std::size_t>(*chunk))),
                                   options);
            !ok) {
            return ok.error();
        }
        std::vector<double> runs;
        for (long long i = 0; i < *prompt_runs; ++i) {
            session.reset();
            const auto t0 = Clock::now();
            auto ok = session.feed(prompt, options);
            if (!ok) return ok.error();
            runs.push_back(ms_since(t0));
        }
        prompt_ms = summarise(std::move(runs));
    } else if (auto ok = session.step(0); !ok) {
        return ok.error();
    }

    // Resuming the conversation from a snapshot instead of re-processing its prompt: encode the
    // resume record, decode and verify it, and restore a fresh session from it.
    double resume_ms = 0;
    std::size_t snapshot_bytes = 0;
    {
        const auto t0 = Clock::now();
        ResumeRecord record;
        record.state = session.state();
        record.logits.assign(session.logits().begin(), session.logits().end());
        record.token_count = session.tokens_processed();
        record.tokenizer_id = "bench";
        const auto blob = encode_resume_record(record);
        snapshot_bytes = blob.size();
        auto decoded = decode_resume_record(blob);
        if (!decoded) return decoded.error();
        Session resumed(*model);
        if (auto ok = resumed.restore(decoded->state, decoded->logits, decoded->token_count); !ok) {
            return ok.error();
        }
        resume_ms = ms_since(t0);
    }

    std::int32_t token = argmax(session.logits());
    if (auto ok = session.step(token); !ok) return ok.error();  // warm-up of the one-token path
    std::vector<double> token_ms;
    token_ms.reserve(static_cast<std::size_t>(*gen_n));
    for (long long i = 0; i < *gen_n; ++i) {
        const auto t0 = Clock::now();
        auto logits = session.step(token);
        if (!logits) return logits.error();
        token = argmax(*logits);
        token_ms.push_back(ms_since(t0));
    }
    const Timings decode = summarise(std::move(token_ms));
    const double decode_ms = decode.mean;

    // The decode figure picks greedily, as the bandwidth limit is about the forward pass; a chat
    // also pays its sampler every token. Timed on the last logits with the chat defaults, each
    // draw accepted so the penalty table grows as in a reply.
    double sample_ms = 0;
    {
        auto sampler = Sampler::create(SamplerSettings::chat_defaults());
        if (!sampler) return sampler.error();
        const std::vector<float> logits(session.logits().begin(), session.logits().end());
        constexpr int kDraws = 200;
        const auto t0 = Clock::now();
        for (int i = 0; i < kDraws; ++i) sampler->accept(sampler->sample(logits));
        sample_ms = ms_since(t0) / kDraws;
    }
    // A chat's loop: each token drawn by that sampler and fed back, timed whole. Besides the
    // two parts it shows what the gap between them costs (the pool's workers waking).
    double chat_ms = 0;
    if (*gen_n > 0) {
        auto sampler = Sampler::create(SamplerSettings::chat_defaults());
        if (!sampler) return sampler.error();
        const auto t0 = Clock::now();
        for (long long i = 0; i < *gen_n; ++i) {
            const std::int32_t drawn = sampler->sample(session.logits());
            if (drawn < 0) return make_error("the sampler found no token to draw");
            sampler->accept(drawn);
            if (auto ok = session.step(drawn); !ok) return ok.error();
        }
        chat_ms = ms_since(t0) / static_cast<double>(*gen_n);
    }

    // The limits are measured again after decoding and the better of the two kept: on a shared
    // machine another tenant can slow one probe down, and a limit measured low would make the
    // fractions look better than they are (one run read 1.12 of a probe that had lost a third of
    // its bandwidth that way).
    std::array<double, 2> read_probes{probe->read_bandwidth_gb_s, 0.0};
    std::array<double, 2> fma_probes{probe->fma_gflop_s, 0.0};
    if (!on_gpu) {
        auto again = probe_in_child(weight_bytes, static_cast<int>(*threads));
        if (!again) return again.error();
        read_probes[1] = again->read_bandwidth_gb_s;
        fma_probes[1] = again->fma_gflop_s;
        probe->read_bandwidth_gb_s = std::max(read_probes[0], read_probes[1]);
        probe->fma_gflop_s = std::max(fma_probes[0], fma_probes[1]);
    }

    // Taken before the paired passes' buffer exists: the budget is about the model's memory.
    const std::uint64_t peak_rss = peak_rss_bytes();
    // Without memory for the read buffer the bench still reports everything else.
    std::optional<PairedDecode> paired;
    std::string paired_skipped;
    if (!on_gpu && *gen_n > 0) {
        if (auto reads = ReadPasses::create(weight_bytes); !reads) {
            paired_skipped = reads.message();
        } else {
            auto p = paired_decode(session, token, *reads, *gen_n);
            if (!p) return p.error();
            paired = *p;
        }
    }

    // Matrix-product flops per prompt token: 2 per weight of every layer matrix; the head runs
    // once per prompt (only the last token's logits are needed; the CUDA path still runs it per
    // chunk, which is not counted).
    const double flops_per_token =
        2.0 * static_cast<double>((*model)->layer_matrix_elements()) +
        2.0 * cfg.n_vocab * cfg.n_embd / static_cast<double>(std::max<long long>(1, *prompt_n));
    const auto tokens_per_s = [&](double ms) {
        return ms > 0 ? static_cast<double>(prompt.size()) / (ms / 1000.0) : 0.0;
    };
    const double prompt_tps = tokens_per_s(prompt_ms.median);
    const double prompt_tps_best = tokens_per_s(prompt_ms.min);
    const double prompt_gflops = flops_per_token * prompt_tps / 1e9;
    const auto fma_fraction = [&](double gflops) {
        return probe->fma_gflop_s > 0 ? gflops / probe->fma_gflop_s : 0.0;
    };
    const double bw_limit_ms =
        static_cast<double>(weight_bytes) / (probe->read_bandwidth_gb_s * 1e9) * 1000.0;

    nlohmann::json j;
    j["model"] = source;
    j["rwkv_version"] = std::string(arch_name(cfg.arch));
    j["n_layer"] = cfg.n_layer;
    j["n_embd"] = cfg.n_embd;
    j["n_vocab"] = cfg.n_vocab;
    j["dtype"] = std::string(dtype_name((*model)->weight_type()));
    j["device"] = (*model)->device();
    j["device_note"] = (*model)->device_note();
    if (on_gpu) {
        j["gpu_copy_gb_s"] = gpu_probe.copy_gb_s;
        j["gpu_gemm_tflop_s"] = gpu_probe.gemm_tflop_s;
    }
    j["isa"] = cpu_kernel_isa();
    j["threads"] = session.threads();
    j["load_ms"] = load_ms;
    j["prompt_tokens"] = prompt.size();
    j["prompt_runs"] = prompt.empty() ? 0 : *prompt_runs;
    j["prompt_tokens_per_s"] = prompt_tps;  // the median run
    j["prompt_gflop_s"] = prompt_gflops;
    j["prompt_fma_fraction"] = fma_fraction(prompt_gflops);
    j["prompt_tokens_per_s_best"] = prompt_tps_best;
    j["prompt_fma_fraction_best"] = fma_fraction(flops_per_token * prompt_tps_best / 1e9);
    j["resume_ms"] = resume_ms;
    j["reprocess_ms"] =
        prompt_tps > 0 ? 1000.0 * static_cast<double>(prompt.size()) / prompt_tps : 0.0;
    j["snapshot_bytes"] = snapshot_bytes;
    j["gen_tokens"] = *gen_n;
    j["decode_ms_per_token"] = decode_ms;  // the mean
    j["decode_ms_per_token_median"] = decode.median;
    j["decode_ms_per_token_min"] = decode.min;
    j["decode_tokens_per_s"] = 1000.0 / decode_ms;
    j["sample_ms_per_token"] = sample_ms;
    j["chat_ms_per_token"] = chat_ms;
    j["weight_bytes_per_token"] = weight_bytes;
    j["read_bandwidth_gb_s"] = probe->read_bandwidth_gb_s;
    j["fma_gflop_s"] = probe->fma_gflop_s;
    if (!on_gpu) {
        j["read_bandwidth_probes_gb_s"] = read_probes;  // before the prompt, after decoding
        j["fma_probes_gflop_s"] = fma_probes;
        if (paired) {
            j["decode_paired_fraction"] = paired->fraction_median;
            j["decode_paired_fraction_quartiles"] = {paired->fraction_low, paired->fraction_high};
            j["decode_paired_read_gb_s"] = paired->read_gb_s_median;
        } else if (!paired_skipped.empty()) {
            j["decode_paired_skipped"] = paired_skipped;
        }
    }
    // The limit assumes the weights stream from memory; where a token's bytes fit in the last
    // cache level, the probe reads them there and the limit is the cache's (read_bandwidth_gb_s
    // then swings with what else the cache holds). Some virtual machines do not describe their
    // caches at all; then that is said, not guessed.
    if (const auto llc = on_gpu ? std::nullopt : last_level_cache_bytes()) {
        j["last_level_cache_bytes"] = *llc;
        if (weight_bytes <= *llc) {
            j["decode_limit_note"] =
                "the " + std::to_string(weight_bytes >> 20) + " MiB a token reads fit in the " +
                std::to_string(*llc >> 20) +
                " MiB last-level cache, so the read bandwidth and the limit are the cache's, "
                "not memory's";
        }
    } else if (!on_gpu) {
        j["decode_limit_note"] =
            "this system does not describe its caches, so whether the " +
            std::to_string(weight_bytes >> 20) +
            " MiB a token reads fit in the last-level cache is unknown; where they do, the read "
            "bandwidth and the limit are partly the cache's";
    }
    j["decode_bandwidth_limit_ms"] = bw_limit_ms;
    j["decode_bandwidth_fraction"] = bw_limit_ms / decode_ms;
    j["decode_bandwidth_fraction_best"] = bw_limit_ms / decode.min;
    j["state_bytes"] = cfg.state_floats() * sizeof(float);
    j["peak_rss_bytes"] = peak_rss;
    j["weight_bytes"] = (*model)->weight_bytes();
    j["rss_budget_bytes"] =
        static_cast<std::uint64_t>(1.15 * static_cast<double>((*model)->weight_bytes())) +
        (64u << 20);
    return j;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    auto args = Args::parse(argv, {{"model", "synthetic", "dtype", "device", "threads", "prompt",
                                    "prompt-runs", "gen", "chunk"},
                                   {"json"}});
    if (!args) {
        err << "ravel-cli bench: " << args.message() << "\n" << kUsage;
        return 2;
    }
    if (!args->has("model") && !args->has("synthetic")) {
        err << "ravel-cli bench: give --model FILE or --synthetic SPEC\n" << kUsage;
        return 2;
    }
    auto j = run_bench(*args);
    if (!j) {
        err << "ravel-cli bench: " << j.message() << "\n";
        return 1;
    }
    if (args->flag("json")) {
        out << json_text(*j, 2) << "\n";
        return 0;
    }
    const auto& r = *j;
    out << "model            " << r["model"].get<std::string>() << " (RWKV "
        << r["rwkv_version"].get<std::string>() << ", " << r["n_layer"] << "x" << r["n_embd"]
        << ", vocab " << r["n_vocab"] << ", " << r["dtype"].get<std::string>() << ")\n"
        << "device           " << r["device"].get<std::string>() << "\n"
        << "cpu              " << r["isa"].get<std::string>() << ", " << r["threads"]
        << " threads\n"
        << "load             " << r["load_ms"].get<double>() << " ms\n"
        << "prompt           " << r["prompt_tokens_per_s"].get<double>() << " tokens/s, median of "
        << r["prompt_runs"] << " runs (" << r["prompt_gflop_s"].get<double>() << " GFLOP/s, "
        << 100 * r["prompt_fma_fraction"].get<double>() << "% of the measured FMA peak "
        << r["fma_gflop_s"].get<double>() << " GFLOP/s; best run "
        << r["prompt_tokens_per_s_best"].get<double>() << " tokens/s, "
        << 100 * r["prompt_fma_fraction_best"].get<double>() << "%)\n"
        << "decode           " << r["decode_ms_per_token"].get<double>() << " ms/token ("
        << 100 * r["decode_bandwidth_fraction"].get<double>() << "% of the bandwidth limit "
        << r["decode_bandwidth_limit_ms"].get<double>() << " ms: " << r["weight_bytes_per_token"]
        << " bytes/token at " << r["read_bandwidth_gb_s"].get<double>() << " GB/s; fastest token "
        << r["decode_ms_per_token_min"].get<double>() << " ms, "
        << 100 * r["decode_bandwidth_fraction_best"].get<double>() << "%)\n";
    if (r.contains("decode_paired_fraction")) {
        out << "decode, paired   " << 100 * r["decode_paired_fraction"].get<double>()
            << "% of the bandwidth limit, each token after a read pass (median; quartiles "
            << 100 * r["decode_paired_fraction_quartiles"][0].get<double>() << "-"
            << 100 * r["decode_paired_fraction_quartiles"][1].get<double>() << "%; passes read "
            << r["decode_paired_read_gb_s"].get<double>() << " GB/s)\n";
    } else if (r.contains("decode_paired_skipped")) {
        out << "decode, paired   skipped: " << r["decode_paired_skipped"].get<std::string>()
            << "\n";
    }
    if (r.contains("decode_limit_note")) {
        out << "note             " << r["decode_limit_note"].get<std::string>() << "\n";
    }
    out << "sampling         " << r["sample_ms_per_token"].get<double>()
        << " ms/token (chat defaults: temperature 1, top-p 0.3, penalties)\n"
        << "chat loop        " << r["chat_ms_per_token"].get<double>()
        << " ms/token (decode and that sampler, token after token)\n"
        << "resume           " << r["resume_ms"].get<double>() << " ms from a "
        << r["snapshot_bytes"] << "-byte snapshot, against " << r["reprocess_ms"].get<double>()
        << " ms to re-process the " << r["prompt_tokens"] << "-token prompt\n"
        << "peak RSS         " << r["peak_rss_bytes"] << " bytes (budget " << r["rss_budget_bytes"]
        << ")\n";
    return 0;
}

}  // namespace ravel::cli
