// ravel-cli convert: any readable model -> Ravel GGUF with the weights in the chosen type and
// the tokenizer vocabulary embedded, so the result is one self-contained, mmap-able file.
#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>

#include "args.hpp"
#include "commands.hpp"
#include "json_out.hpp"
#include "ravel/gguf.hpp"
#include "ravel/model.hpp"
#include "ravel/tokenizer.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::cli {

namespace {

constexpr const char* kUsage =
    "usage: ravel-cli convert --in FILE --out FILE.gguf --dtype f16|bf16|q8_0|q5_1|q4_0|f32\n"
    "                         [--tokenizer world|neox|byte|none] [--vocab FILE] [--json]\n";

// Vocabulary files are a few MiB; anything far larger is not one.
constexpr std::uintmax_t kMaxVocabBytes = 64u << 20;

Result<std::string> read_small_file(const std::filesystem::path& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return make_error(path.string() + ": " + ec.message());
    if (size > kMaxVocabBytes) {
        return make_error(path.string() + " is " + std::to_string(size) +
                          " bytes, too large for a tokenizer vocabulary");
    }
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return make_error(path.string() + ": cannot read");
    return text;
}

// Fills the tokenizer fields of `opt`: the kind from --tokenizer, an already-embedded
// vocabulary, or the vocabulary size (as chat chooses); the file found like chat finds it.
Result<void> choose_tokenizer(const Args& args, const WeightFile& src, const ModelConfig& config,
                              GgufConvertOptions& opt) {
    const auto& meta = src.metadata();
    std::optional<TokenizerKind> kind;
    if (auto name = args.get("tokenizer")) {
        if (*name == "none") return {};
        kind = parse_tokenizer_kind(*name);
        if (!kind)
            return make_error("unknown --tokenizer '" + *name + "' (world, neox, byte, none)");
    } else if (auto it = meta.find(std::string(kGgufTokenizerKind)); it != meta.end()) {
        // Re-converting a Ravel GGUF keeps its embedded tokenizer.
        opt.tokenizer_kind = it->second;
        if (auto f = meta.find(std::string(kGgufTokenizerFile)); f != meta.end()) {
            opt.tokenizer_file = f->second;
            auto n = meta.find(std::string(kGgufTokenizerFileName));
            opt.tokenizer_file_name = n != meta.end() ? n->second : "";
        }
        return {};
    } else {
        std::optional<std::string_view> ggml_model;
        if (auto g = meta.find("tokenizer.ggml.model"); g != meta.end()) ggml_model = g->second;
        kind = tokenizer_kind_for_vocab(ggml_model, config.n_vocab);
        if (!kind) {
            return make_error("cannot tell the tokenizer from the model's vocabulary size " +
                              std::to_string(config.n_vocab) +
                              "; pass --tokenizer world|neox|byte|none");
        }
    }
    opt.tokenizer_kind = std::string(tokenizer_kind_name(*kind));
    if (*kind == TokenizerKind::Byte) return {};

    TokenizerSearch search;
    if (auto v = args.get("vocab")) search.explicit_path = *v;
    search.model_file = src.path();
    search.dirs = default_tokenizer_dirs({});
    auto path = find_tokenizer_file(*kind, search);
    if (!path) {
        return make_error(path.message() +
                          " (pass --vocab FILE, or --tokenizer none to embed none)");
    }
    auto text = read_small_file(*path);
    if (!text) return text.error();
    // Only a vocabulary that loads is embedded.
    auto tok = *kind == TokenizerKind::World
                   ? world_tokenizer_from_vocab_text(*text, path->string())
                   : neox_tokenizer_from_json(*text, path->string());
    if (!tok) return tok.error();
    if ((*tok)->vocab_size() > config.n_vocab) {
        return make_error("the " + opt.tokenizer_kind + " tokenizer has " +
                          std::to_string((*tok)->vocab_size()) + " ids but the model only " +
                          std::to_string(config.n_vocab));
    }
    opt.tokenizer_file_name = path->filename().string();
    opt.tokenizer_file = std::move(*text);
    return {};
}

void add_architecture(const ModelConfig& c, GgufConvertOptions& opt) {
    opt.strings.push_back({"ravel.rwkv_version", std::string(arch_name(c.arch))});
    auto num = [&](const char* key, long long v) {
        if (v > 0) opt.numbers.push_back({key, static_cast<std::uint32_t>(v)});
    };
    num("ravel.n_layer", c.n_layer);
    num("ravel.n_embd", c.n_embd);
    num("ravel.n_vocab", c.n_vocab);
    num("ravel.dim_ffn", c.dim_ffn);
    num("ravel.n_head", c.n_head);
    num("ravel.head_size", c.head_size);
    num("ravel.lora.mix", c.lora_mix);
    num("ravel.lora.decay", c.lora_decay);
    num("ravel.lora.w", c.lora_w);
    num("ravel.lora.a", c.lora_a);
    num("ravel.lora.v", c.lora_v);
    num("ravel.lora.g", c.lora_g);
}

}  // namespace

int cmd_convert(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    auto args = Args::parse(argv, {{"in", "out", "dtype", "tokenizer", "vocab"}, {"json"}});
    if (!args) {
        err << "ravel-cli convert: " << args.message() << "\n" << kUsage;
        return 2;
    }
    const auto in = args->get("in");
    const auto to = args->get("out");
    const auto dtype_arg = args->get("dtype");
    if (!in || !to || !dtype_arg) {
        err << "ravel-cli convert: --in, --out and --dtype are required\n" << kUsage;
        return 2;
    }
    const auto dtype = dtype_from_name(*dtype_arg);
    if (!dtype) {
        err << "ravel-cli convert: unknown --dtype '" << *dtype_arg << "'\n" << kUsage;
        return 2;
    }
    std::error_code ec;
    if (std::filesystem::equivalent(*in, *to, ec)) {
        err << "ravel-cli convert: --in and --out are the same file\n";
        return 2;
    }

    const auto start = std::chrono::steady_clock::now();
    auto src = WeightFile::open(*in);
    if (!src) {
        err << "ravel-cli convert: " << src.message() << "\n";
        return 1;
    }
    // Only a model the engine can run is converted; the check also names what is wrong.
    auto config = detect_config(*src);
    if (!config) {
        err << "ravel-cli convert: " << config.message() << "\n";
        return 1;
    }
    GgufConvertOptions opt;
    opt.weight_type = *dtype;
    // The embedding table is stored normalised so the loader can use it in place.
    opt.fold_ln0 = true;
    add_architecture(*config, opt);
    if (auto r = choose_tokenizer(*args, *src, *config, opt); !r) {
        err << "ravel-cli convert: " << r.message() << "\n";
        return 1;
    }
    auto report = convert_to_gguf(*src, *to, opt);
    if (!report) {
        err << "ravel-cli convert: " << *to << ": " << report.message() << "\n";
        return 1;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (args->flag("json")) {
        nlohmann::json j;
        j["in"] = *in;
        j["out"] = *to;
        j["dtype"] = std::string(dtype_name(*dtype));
        j["tensors"] = report->tensors;
        j["tensors_in_dtype"] = report->in_weight_type;
        j["bytes"] = report->bytes;
        j["tokenizer"] = opt.tokenizer_kind.empty() ? "none" : opt.tokenizer_kind;
        j["seconds"] = seconds;
        out << json_text(j, 2) << "\n";
    } else {
        out << "wrote " << *to << ": " << report->bytes << " bytes, " << report->tensors
            << " tensors (" << report->in_weight_type << " in " << dtype_name(*dtype)
            << ", the rest f32), tokenizer "
            << (opt.tokenizer_kind.empty() ? "none" : opt.tokenizer_kind) << "\n";
    }
    return 0;
}

}  // namespace ravel::cli
