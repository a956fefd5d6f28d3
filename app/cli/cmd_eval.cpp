#include <cstdio>
#include <fstream>
#include <ostream>

#include "args.hpp"
#include "commands.hpp"
#include "model_options.hpp"
#include "output_file.hpp"
#include "ravel/session.hpp"
#include "token_list.hpp"

namespace ravel::cli {

namespace {

constexpr const char* kUsage =
    "usage: ravel-cli eval --model FILE (--tokens 1,2,3 | --tokens-file F)\n"
    "                      [--mode step|sequence|chunked:N] [--all] [--device cpu|cuda]\n"
    "                      [--dtype f32|f16|bf16|q8_0|q5_1|q4_0] [--threads N] --out LOGITS.f32\n"
    "                      [--state-in F] [--state-out F]\n"
    "Without --dtype: the weights stay in the type the file stores them in.\n";

Result<int> chunk_size_for(const std::string& mode, std::size_t n_tokens) {
    if (mode == "step") return 1;
    if (mode == "sequence") return static_cast<int>(std::max<std::size_t>(n_tokens, 1));
    if (mode.rfind("chunked:", 0) == 0) {
        const std::string n = mode.substr(8);
        char* end = nullptr;
        const long v = std::strtol(n.c_str(), &end, 10);
        if (!n.empty() && *end == '\0' && v >= 1 && v <= 1 << 20) return static_cast<int>(v);
    }
    return make_error("--mode must be step, sequence or chunked:N with N >= 1, got '" + mode + "'");
}

Result<void> write_floats(const std::string& path, std::span<const float> values) {
    return write_file_replacing(path, std::as_bytes(values));
}

Result<std::vector<float>> read_floats(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return make_error("cannot open state file '" + path + "'");
    const auto size = static_cast<std::size_t>(in.tellg());
    if (size % sizeof(float) != 0) {
        return make_error("state file '" + path + "' is " + std::to_string(size) +
                          " bytes, not a whole number of float32 values");
    }
    std::vector<float> values(size / sizeof(float));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(size));
    if (!in) return make_error("cannot read state file '" + path + "'");
    return values;
}

Result<void> run_eval(const Args& args) {
    std::vector<std::int32_t> tokens;
    if (auto list = args.get("tokens")) {
        auto parsed = parse_token_list(*list);
        if (!parsed) return parsed.error();
        tokens = std::move(*parsed);
    } else if (auto file = args.get("tokens-file")) {
        auto parsed = read_token_file(*file);
        if (!parsed) return parsed.error();
        tokens = std::move(*parsed);
    } else {
        return make_error("give the input with --tokens 1,2,3 or --tokens-file F");
    }
    if (tokens.empty()) return make_error("no tokens to evaluate");
    auto out_path = args.get("out");
    if (!out_path) return make_error("--out LOGITS.f32 is required");
    auto chunk = chunk_size_for(args.get_or("mode", "sequence"), tokens.size());
    if (!chunk) return chunk.error();

    auto session_options = session_options_from_args(args);
    if (!session_options) return session_options.error();
    auto model = load_model_from_args(args);
    if (!model) return model.error();
    Session session(*model, *session_options);
    if (auto state_in = args.get("state-in")) {
        auto values = read_floats(*state_in);
        if (!values) return values.error();
        State state((*model)->config());
        if (auto ok = state.assign(*values); !ok)
            return make_error(*state_in + ": " + ok.message());
        if (auto ok = session.set_state(state); !ok) return ok.error();
    }

    const std::size_t V = static_cast<std::size_t>((*model)->config().n_vocab);
    std::vector<float> all;
    FeedOptions options;
    options.chunk_size = *chunk;
    if (args.flag("all")) {
        all.resize(tokens.size() * V);
        options.all_logits = all;
    }
    auto logits = session.feed(tokens, options);
    if (!logits) return logits.error();
    if (auto ok = write_floats(*out_path, args.flag("all") ? std::span<const float>(all) : *logits);
        !ok) {
        return ok;
    }
    if (auto state_out = args.get("state-out")) {
        if (auto ok = write_floats(*state_out, session.state().values()); !ok) return ok;
    }
    return {};
}

}  // namespace

int cmd_eval(const std::vector<std::string>& argv, std::ostream& /*out*/, std::ostream& err) {
    auto args = Args::parse(argv, {{"model", "tokens", "tokens-file", "mode", "device", "dtype",
                                    "threads", "out", "state-in", "state-out"},
                                   {"all"}});
    if (!args) {
        err << "ravel-cli eval: " << args.message() << "\n" << kUsage;
        return 2;
    }
    if (auto ok = run_eval(*args); !ok) {
        err << "ravel-cli eval: " << ok.message() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace ravel::cli
