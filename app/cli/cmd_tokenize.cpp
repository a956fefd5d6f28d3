// ravel-cli tokenize / detokenize (DESIGN.md section 7).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <system_error>

#include "args.hpp"
#include "commands.hpp"
#include "json_out.hpp"
#include "ravel/tokenizer.hpp"
#include "text_file.hpp"
#include "token_list.hpp"

namespace ravel::cli {

namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxTextFileBytes = 1ull << 30;

constexpr const char* kTokenizeUsage =
    "usage: ravel-cli tokenize --tokenizer world|neox|byte [--vocab FILE] "
    "(--text S | --text-file F) [--json]\n";
constexpr const char* kDetokenizeUsage =
    "usage: ravel-cli detokenize --tokenizer world|neox|byte [--vocab FILE] --tokens 1,2,3\n"
    "prints exactly the decoded bytes (no newline is added)\n";

// The executable's directory, for the installed share/ravel/tokenizers; empty if unknown.
fs::path executable_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : exe.parent_path();
}

Result<std::unique_ptr<Tokenizer>> tokenizer_from_args(const Args& args) {
    const auto name = args.get("tokenizer");
    if (!name) return make_error("--tokenizer world|neox|byte is required");
    const auto kind = parse_tokenizer_kind(*name);
    if (!kind) {
        return make_error("unknown tokenizer '" + *name + "' (expected world, neox or byte)");
    }
    TokenizerSearch search;
    if (auto vocab = args.get("vocab")) {
        if (*kind == TokenizerKind::Byte) return make_error("the byte tokenizer takes no --vocab");
        search.explicit_path = *vocab;
    } else {
        search.dirs = default_tokenizer_dirs(executable_dir());
    }
    auto tok = load_tokenizer(*kind, search);
    if (!tok && !args.has("vocab")) {
        return make_error(
            tok.message() +
            "\n(pass --vocab FILE, or set RAVEL_VOCAB_DIR to the directory holding it)");
    }
    return tok;
}

}  // namespace

int cmd_tokenize(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    auto args = Args::parse(argv, {{"tokenizer", "vocab", "text", "text-file"}, {"json"}});
    if (!args) {
        err << "ravel-cli tokenize: " << args.message() << "\n" << kTokenizeUsage;
        return 2;
    }
    if (args->has("text") == args->has("text-file")) {
        err << "ravel-cli tokenize: give exactly one of --text and --text-file\n" << kTokenizeUsage;
        return 2;
    }
    std::string text;
    if (auto t = args->get("text")) {
        text = *t;
    } else {
        auto file = read_whole_file(*args->get("text-file"), kMaxTextFileBytes,
                                    "--text-file " + *args->get("text-file"));
        if (!file) {
            err << "ravel-cli tokenize: " << file.message() << "\n";
            return 1;
        }
        text = std::move(*file);
    }
    auto tok = tokenizer_from_args(*args);
    if (!tok) {
        err << "ravel-cli tokenize: " << tok.message() << "\n";
        return 1;
    }
    const std::vector<std::int32_t> ids = (*tok)->encode(text);
    if (args->flag("json")) {
        nlohmann::json j;
        j["tokens"] = ids;
        j["count"] = ids.size();
        out << json_text(j) << "\n";
    } else {
        for (std::size_t i = 0; i < ids.size(); ++i) out << (i ? "," : "") << ids[i];
        out << "\n";
    }
    return 0;
}

int cmd_detokenize(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    auto args = Args::parse(argv, {{"tokenizer", "vocab", "tokens"}, {}});
    if (!args) {
        err << "ravel-cli detokenize: " << args.message() << "\n" << kDetokenizeUsage;
        return 2;
    }
    const auto list = args->get("tokens");
    if (!list) {
        err << "ravel-cli detokenize: --tokens 1,2,3 is required\n" << kDetokenizeUsage;
        return 2;
    }
    auto ids = parse_token_list(*list);
    if (!ids) {
        err << "ravel-cli detokenize: " << ids.message() << "\n";
        return 2;
    }
    auto tok = tokenizer_from_args(*args);
    if (!tok) {
        err << "ravel-cli detokenize: " << tok.message() << "\n";
        return 1;
    }
    auto text = (*tok)->decode(*ids);
    if (!text) {
        err << "ravel-cli detokenize: " << text.message() << "\n";
        return 1;
    }
    out << *text;
    return 0;
}

}  // namespace ravel::cli
