#include <exception>
#include <new>
#include <ostream>

#include "commands.hpp"

namespace ravel::cli {

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"info", "print a model's architecture and shapes", cmd_info},
        {"bench", "measure decode and prompt speed against this machine's limits", cmd_bench},
        {"eval", "run tokens through a model and write float32 logits", cmd_eval},
        {"tokenize", "turn text into token ids", cmd_tokenize},
        {"detokenize", "turn token ids into text", cmd_detokenize},
        {"convert", "write a model as GGUF with f16/bf16/q8_0/q5_1/q4_0 weights", cmd_convert},
        {"chat", "chat with a model in the terminal or answer --prompt turns", cmd_chat},
    };
    return table;
}

namespace {
void usage(std::ostream& os) {
    os << "usage: ravel-cli COMMAND [OPTIONS]\n\ncommands:\n";
    for (const auto& c : commands()) os << "  " << c.name << "\t" << c.summary << "\n";
}
}  // namespace

int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
    if (argc < 2) {
        usage(err);
        return 2;
    }
    const std::string_view name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        usage(out);
        return 0;
    }
    for (const auto& c : commands()) {
        if (c.name != name) continue;
        // Commands report errors as values; this is the last guard, so that an exception from
        // a library (or running out of memory) is a message and exit status 1, not an abort.
        try {
            return c.run(std::vector<std::string>(argv + 2, argv + argc), out, err);
        } catch (const std::bad_alloc&) {
            err << "ravel-cli " << name << ": out of memory\n";
        } catch (const std::exception& e) {
            err << "ravel-cli " << name << ": " << e.what() << "\n";
        }
        return 1;
    }
    err << "ravel-cli: unknown command '" << name << "'\n";
    usage(err);
    return 2;
}

}  // namespace ravel::cli
