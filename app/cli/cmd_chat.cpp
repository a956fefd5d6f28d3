// ravel-cli chat: argument parsing and wiring; the conversation itself lives in ChatLoop.
#include <iostream>
#include <ostream>

#include "args.hpp"
#include "chat_db.hpp"
#include "chat_loop.hpp"
#include "commands.hpp"
#include "demo/demo_model.hpp"
#include "model_options.hpp"

namespace ravel::cli {

namespace {

const char* kUsage =
    "usage: ravel-cli chat [--model FILE] [--db FILE (--new | --conversation ID | --list)]\n"
    "         [--prompt TEXT]... [--seed N] [--temperature T]\n"
    "         [--top-p P] [--top-k K] [--min-p P] [--presence P] [--frequency F] [--decay D]\n"
    "         [--max-tokens N] [--system TEXT] [--tokenizer world|neox|byte] [--vocab FILE]\n"
    "         [--template world|g1|g1-think|raven] [--chunk N] [--json]\n"
    "Without --prompt: an interactive chat on stdin (/help lists its commands).\n"
    "Without --model: the small demo model bundled with Ravel.\n";

// No --model: the bundled demo model (issue 8), said on stderr when a person is typing. Its
// card recommends greedy decoding without penalties, used unless the sampling is given.
std::vector<std::string> with_default_model(std::vector<std::string> argv, std::ostream& err) {
    const auto given = [&](std::string_view name) {
        const std::string flag = "--" + std::string(name);
        for (const auto& a : argv) {
            if (a == flag || a.starts_with(flag + "=")) return true;
        }
        return false;
    };
    if (given("model")) return argv;
    const auto demo = demo::find_demo_model();
    if (demo.empty()) return argv;
    for (const char* name : {"temperature", "presence", "frequency"}) {
        if (!given(name)) argv.insert(argv.end(), {"--" + std::string(name), "0"});
    }
    if (!given("prompt")) {
        err << "Using Ravel's small demo model (" << demo.string()
            << "): it knows greetings, small arithmetic, units, dates and facts about RWKV and "
               "Ravel. For real conversations pass --model FILE with an RWKV model.\n";
    }
    argv.push_back("--model");
    argv.push_back(demo.string());
    return argv;
}

Result<SamplerSettings> sampler_from_args(const Args& args) {
    SamplerSettings s = SamplerSettings::chat_defaults();
    auto real = [&](const char* name, float& field, double lo, double hi) -> Result<void> {
        auto v = args.get_double(name, field, lo, hi);
        if (!v) return v.error();
        field = static_cast<float>(*v);
        return {};
    };
    for (auto r : {real("temperature", s.temperature, 0.0, 5.0), real("top-p", s.top_p, 0.0, 1.0),
                   real("min-p", s.min_p, 0.0, 1.0), real("presence", s.presence_penalty, -5, 5),
                   real("frequency", s.frequency_penalty, -5, 5),
                   real("decay", s.penalty_decay, 0.0, 1.0)}) {
        if (!r) return r.error();
    }
    auto top_k = args.get_int("top-k", s.top_k, 0, 1'000'000);
    if (!top_k) return top_k.error();
    s.top_k = static_cast<int>(*top_k);
    auto max_tokens = args.get_int("max-tokens", s.max_tokens, 1, 1'000'000);
    if (!max_tokens) return max_tokens.error();
    s.max_tokens = static_cast<int>(*max_tokens);
    auto seed = args.get_int("seed", 0, 0, std::numeric_limits<long long>::max());
    if (!seed) return seed.error();
    s.seed = static_cast<std::uint64_t>(*seed);
    if (auto ok = s.validate(); !ok) return ok.error();
    return s;
}

Result<std::unique_ptr<Tokenizer>> tokenizer_from_args(const Args& args, const Model& model) {
    const int n_vocab = model.config().n_vocab;
    std::optional<TokenizerKind> kind;
    if (auto name = args.get("tokenizer")) {
        kind = parse_tokenizer_kind(*name);
        if (!kind) return make_error("unknown --tokenizer '" + *name + "' (world, neox, byte)");
    } else {
        kind = tokenizer_kind_for_vocab(std::nullopt, n_vocab);
        if (!kind) {
            return make_error("cannot tell the tokenizer from the model's vocabulary size " +
                              std::to_string(n_vocab) + "; pass --tokenizer world|neox|byte");
        }
    }
    TokenizerSearch search;
    if (auto vocab = args.get("vocab")) search.explicit_path = *vocab;
    if (auto path = args.get("model")) search.model_file = *path;
    search.dirs = default_tokenizer_dirs({});
    auto tokenizer = load_tokenizer(*kind, search);
    if (!tokenizer) return tokenizer.error();
    if ((*tokenizer)->vocab_size() > n_vocab) {
        return make_error("the " + std::string((*tokenizer)->kind_name()) + " tokenizer has " +
                          std::to_string((*tokenizer)->vocab_size()) + " ids but the model only " +
                          std::to_string(n_vocab));
    }
    return tokenizer;
}

}  // namespace

int cmd_chat(const std::vector<std::string>& given, std::ostream& out, std::ostream& err) {
    const std::vector<std::string> argv = with_default_model(given, err);
    OptionSpec spec{{"model", "prompt", "seed", "temperature", "top-p", "top-k", "min-p",
                     "presence", "frequency", "decay", "max-tokens", "system", "tokenizer",
                     "vocab", "template", "chunk", "dtype", "device", "threads"},
                    {"json"}};
    spec.valued.insert(std::begin(kChatDbValued), std::end(kChatDbValued));
    spec.flags.insert(std::begin(kChatDbFlags), std::end(kChatDbFlags));
    auto args = Args::parse(argv, spec);
    if (!args) {
        err << "ravel-cli chat: " << args.message() << "\n" << kUsage;
        return 2;
    }
    // Conversations kept in a database (resume, branches): see chat_db.hpp.
    if (args->has("db")) return chat_with_db(*args, std::cin, out, err);
    ChatConfig config;
    auto settings = sampler_from_args(*args);
    if (!settings) {
        err << "ravel-cli chat: " << settings.message() << "\n";
        return 2;
    }
    config.sampler = *settings;
    config.system = args->get_or("system", "");
    auto tmpl = ChatTemplate::from_name(args->get_or("template", "world"));
    if (!tmpl) {
        err << "ravel-cli chat: unknown --template (world, g1, g1-think, raven)\n";
        return 2;
    }
    config.chat_template = *tmpl;
    auto chunk = args->get_int("chunk", config.chunk_size, 1, 4096);
    if (!chunk) {
        err << "ravel-cli chat: " << chunk.message() << "\n";
        return 2;
    }
    config.chunk_size = static_cast<int>(*chunk);

    auto model = load_model_from_args(*args);
    if (!model) {
        err << "ravel-cli chat: " << model.message() << "\n";
        return 1;
    }
    auto tokenizer = tokenizer_from_args(*args, **model);
    if (!tokenizer) {
        err << "ravel-cli chat: " << tokenizer.message() << "\n";
        return 1;
    }
    ChatLoop chat(*model, std::move(tokenizer).value(), std::move(config));
    const auto prompts = args->all("prompt");
    if (prompts.empty()) return chat.run_interactive(std::cin, out, err);
    return chat.run_prompts(prompts, args->flag("json"), out, err);
}

}  // namespace ravel::cli
