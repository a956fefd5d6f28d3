// Tokenizer throughput (not a test; DESIGN.md: speed is shown by benchmarks, never asserted).
//   bench_tokenizer [--dir TOKENIZER_DIR] [--mib N]
// Builds N MiB (default 4) of mixed text: English-like prose, code, CJK, Cyrillic, emoji and
// whitespace runs; reports encode and decode MB/s (per CPU second of the benchmark thread, best
// of three) for World, NeoX and bytes. The NeoX "first pass" runs with an empty word cache.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ravel/tokenizer.hpp"

namespace {

std::string mixed_text(std::size_t bytes) {
    static const char* const words[] = {
        "the",
        "of",
        "and",
        "to",
        "in",
        "model",
        "state",
        "token",
        "language",
        "recurrent",
        "network",
        "Hello",
        "world",
        "it's",
        "don't",
        "RWKV",
        "2024",
        "3.14159",
        "x",
        "value",
        "(a, b)",
        "->",
        "return",
        "std::vector<int>",
        "def",
        "self.weight",
        "#include",
        "\xe4\xbd\xa0\xe5\xa5\xbd",
        "\xe4\xb8\x96\xe7\x95\x8c\xe4\xb8\xad\xe6\x96\x87",
        "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf",
        "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
        "caf\xc3\xa9",
        "na\xc3\xafve",
        "\xf0\x9f\x98\x80",
        "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
    };
    static const char* const seps[] = {" ",  " ",    " ",    " ",  " ",  ", ", ". ",
                                       "\n", "\n\n", "    ", "\t", ": ", "  "};
    std::mt19937 rng(42);
    std::uniform_int_distribution<std::size_t> w(0, std::size(words) - 1);
    std::uniform_int_distribution<std::size_t> s(0, std::size(seps) - 1);
    std::string out;
    out.reserve(bytes + 64);
    while (out.size() < bytes) {
        out += words[w(rng)];
        out += seps[s(rng)];
    }
    return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of this thread: on a shared, loaded machine wall time mostly measures the others.
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Best of `reps` runs of f(), in CPU seconds.
template <class F>
double best_cpu_seconds(int reps, F&& f) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        const double t0 = thread_cpu_seconds();
        f();
        best = std::min(best, thread_cpu_seconds() - t0);
    }
    return best;
}

void bench(const char* name, const ravel::Tokenizer& tok, const std::string& text) {
    const double mb = static_cast<double>(text.size()) / 1e6;
    std::vector<std::int32_t> ids;
    const double enc_cold = best_cpu_seconds(1, [&] { ids = tok.encode(text); });
    const double enc = best_cpu_seconds(3, [&] { ids = tok.encode(text); });
    bool ok = true;
    const double dec = best_cpu_seconds(3, [&] {
        auto decoded = tok.decode(ids);
        ok = ok && decoded.ok() && *decoded == text;
    });
    std::size_t streamed = 0;
    const double dec_stream = best_cpu_seconds(3, [&] {
        ravel::StreamDecoder stream(tok);
        streamed = 0;
        for (std::int32_t id : ids) streamed += stream.push(id).size();
        streamed += stream.flush().size();
    });
    std::printf(
        "%-6s %5.2f MB  %8zu tokens (%.2f bytes/token)  encode %6.1f MB/s (first pass %6.1f)  "
        "decode %7.1f MB/s  stream-decode %6.1f MB/s%s\n",
        name, mb, ids.size(), static_cast<double>(text.size()) / static_cast<double>(ids.size()),
        mb / enc, mb / enc_cold, mb / dec, mb / dec_stream,
        ok && streamed == text.size() ? "" : "  (round trip differs)");
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    double mib = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--dir") == 0) {
            dir = argv[i + 1];
        } else if (std::strcmp(argv[i], "--mib") == 0) {
            mib = std::atof(argv[i + 1]);
        } else {
            std::fprintf(stderr, "usage: bench_tokenizer [--dir TOKENIZER_DIR] [--mib N]\n");
            return 2;
        }
    }
    if (!(mib > 0 && mib <= 1024)) {
        std::fprintf(stderr, "--mib must be in (0, 1024]\n");
        return 2;
    }
    ravel::TokenizerSearch search;
    if (dir.empty()) {
        search.dirs = ravel::default_tokenizer_dirs({});
    } else {
        search.dirs = {dir};
    }
    const std::string text = mixed_text(static_cast<std::size_t>(mib * 1024 * 1024));

    for (auto kind :
         {ravel::TokenizerKind::World, ravel::TokenizerKind::NeoX, ravel::TokenizerKind::Byte}) {
        const auto t0 = std::chrono::steady_clock::now();
        auto tok = ravel::load_tokenizer(kind, search);
        if (!tok) {
            std::fprintf(stderr, "%s\n", tok.message().c_str());
            return 1;
        }
        std::printf("%-6s load %.1f ms\n", std::string(ravel::tokenizer_kind_name(kind)).c_str(),
                    seconds_since(t0) * 1e3);
        bench(std::string(ravel::tokenizer_kind_name(kind)).c_str(), **tok, text);
    }
    return 0;
}
