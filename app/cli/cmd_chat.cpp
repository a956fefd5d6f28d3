// ravel-cli chat: argument parsing and wiring; the conversation itself lives in ChatLoop.
#include <algorithm>
#include <iostream>
#include <ostream>

#include "args.hpp"
#include "chat_db.hpp"
#include "chat_loop.hpp"
#include "chat_options.hpp"
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
    "         [--dtype f32|f16|bf16|q8_0|q5_1|q4_0] [--device cpu|cuda] [--threads N]\n"
    "       ravel-cli chat --db FILE --export ID [--out FILE] [--format json|markdown]\n"
    "         [--snapshots] [--leaf MESSAGE]\n"
    "       ravel-cli chat --db FILE --import FILE [--format json|markdown] [--json]\n"
    "Without --prompt: an interactive chat on stdin (/help lists its commands).\n"
    "Without --model: the small demo model bundled with Ravel.\n"
    "Without --dtype: the weights stay in the type the file stores them in.\n";

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
    // Listing, export and import read the database only. A stored conversation continues only
    // with the model it was held with, which the demo model need not be: chat_with_db asks for
    // --model instead of answering with another model's weights.
    if (given("model") || given("list") || given("export") || given("import") ||
        given("conversation")) {
        return argv;
    }
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

}  // namespace

int cmd_chat(const std::vector<std::string>& given, std::ostream& out, std::ostream& err) {
    const std::vector<std::string> argv = with_default_model(given, err);
    OptionSpec spec{{"model", "prompt", "seed", "temperature", "top-p", "top-k", "min-p",
                     "presence", "frequency", "decay", "max-tokens", "system", "tokenizer", "vocab",
                     "template", "chunk", "dtype", "device", "threads"},
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
    // Without --db these would be ignored: `chat --conversation 3 --prompt hi` would answer in
    // a fresh chat, save nothing and exit 0.
    const auto db_only = [&](const char* name) {
        if (!args->has(name) && !args->flag(name)) return false;
        err << "ravel-cli chat: --" << name << " needs --db FILE\n" << kUsage;
        return true;
    };
    if (std::any_of(std::begin(kChatDbValued), std::end(kChatDbValued), db_only) ||
        std::any_of(std::begin(kChatDbFlags), std::end(kChatDbFlags), db_only)) {
        return 2;
    }
    ChatConfig config;
    auto settings = apply_sampler_options(*args, SamplerSettings::chat_defaults());
    if (!settings) {
        err << "ravel-cli chat: " << settings.message() << "\n";
        return 2;
    }
    config.sampler = *settings;
    config.system = args->get_or("system", "");
    auto tmpl = chat_template_from_args(*args);
    if (!tmpl) {
        err << "ravel-cli chat: " << tmpl.message() << "\n";
        return 2;
    }
    config.chat_template = *tmpl;
    auto chunk = args->get_int("chunk", config.chunk_size, 1, 4096);
    if (!chunk) {
        err << "ravel-cli chat: " << chunk.message() << "\n";
        return 2;
    }
    config.chunk_size = static_cast<int>(*chunk);
    auto session_options = session_options_from_args(*args);
    if (!session_options) {
        err << "ravel-cli chat: " << session_options.message() << "\n";
        return 2;
    }
    config.session = *session_options;

    // The model and the tokenizer it carries (or names, or is found next to it).
    auto loaded = load_chat_model(*args);
    if (!loaded) {
        err << "ravel-cli chat: " << loaded.message() << "\n";
        return 1;
    }
    ChatLoop chat(std::move(loaded->model), std::move(loaded->tokenizer), std::move(config));
    const auto prompts = args->all("prompt");
    if (prompts.empty()) return chat.run_interactive(std::cin, out, err);
    return chat.run_prompts(prompts, args->flag("json"), out, err);
}

}  // namespace ravel::cli
