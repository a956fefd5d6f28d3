#include "chat_loop.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <istream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "chat_interrupt.hpp"

namespace ravel::cli {

namespace {

std::string_view trim(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

Result<double> parse_number(std::string_view name, std::string_view text) {
    const std::string s(text);
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || errno != 0 || *end != '\0' || !std::isfinite(v)) {
        return make_error(std::string(name) + " needs a number, got '" + s + "'");
    }
    return v;
}

Result<long long> parse_integer(std::string_view name, std::string_view text) {
    const std::string s(text);
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || errno != 0 || *end != '\0') {
        return make_error(std::string(name) + " needs an integer, got '" + s + "'");
    }
    return v;
}

// Typed text has no way to enter a newline, so "\n" in a line stands for one (as in ChatRWKV).
std::string unescape_newlines(std::string_view line) {
    std::string out;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else {
            out += line[i];
        }
    }
    return out;
}

const char* kHelp =
    "commands:\n"
    "  /reset              start a new conversation\n"
    "  /regen              answer the last message again\n"
    "  /set NAME VALUE     change a setting (temperature, top_p, top_k, min_p, presence,\n"
    "                      frequency, decay, max_tokens, seed, system)\n"
    "  /settings           show the current settings\n"
    "  /help               this text\n"
    "  /quit               leave (end of input works too)\n"
    "type \\n for a line break inside a message\n";

}  // namespace

ChatLoop::ChatLoop(std::shared_ptr<const Model> model, std::unique_ptr<Tokenizer> tokenizer,
                   ChatConfig config)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      config_(std::move(config)),
      session_(model_, config_.session),
      sampler_(config_.sampler),
      exempt_(penalty_exempt_mask(*tokenizer_)) {
    sampler_.set_penalty_exempt(exempt_);
}

void ChatLoop::reset() {
    session_.reset();
    sampler_ = Sampler(config_.sampler);
    sampler_.set_penalty_exempt(exempt_);
    after_separator_ = true;
    transcript_.clear();
    before_last_.reset();
}

Result<ChatTurn> ChatLoop::send(std::string_view user_text, const PieceCallback& on_piece) {
    before_last_ = Checkpoint{session_, sampler_, after_separator_};
    return answer(user_text, on_piece);
}

Result<ChatTurn> ChatLoop::regenerate(const PieceCallback& on_piece) {
    if (!before_last_ || transcript_.size() < 2) {
        return make_error("nothing to regenerate yet: send a message first");
    }
    const std::string user_text = transcript_[transcript_.size() - 2].text;
    // Same state and penalty table as before the last reply, but the generator continues
    // from where it is, so the new reply is a fresh draw rather than a replay.
    const Xoshiro256 rng = sampler_.rng();
    session_ = before_last_->session;
    sampler_ = before_last_->sampler;
    sampler_.set_rng(rng);
    after_separator_ = before_last_->after_separator;
    transcript_.resize(transcript_.size() - 2);
    return answer(user_text, on_piece);
}

Result<ChatTurn> ChatLoop::answer(std::string_view user_text, const PieceCallback& on_piece) {
    const ChatTemplate& tmpl = config_.chat_template;
    std::string prompt;
    if (session_.tokens_processed() == 0) prompt = tmpl.system_block(config_.system);
    prompt += tmpl.next_turn(user_text, after_separator_);
    const auto tokens = tokenizer_->encode(prompt);

    GenerateOptions options;
    options.chunk_size = config_.chunk_size;
    options.cancel = cancel_;
    options.stop_sequences = {std::string(ChatTemplate::kReplyStop)};
    // The model's reply starts with the space after "Assistant:"; the reader does not need it.
    bool started = false;
    const PieceCallback shown = [&](std::string_view piece) {
        if (!started) {
            const std::size_t first = piece.find_first_not_of(" \t\n\r");
            if (first == std::string_view::npos) return true;
            piece.remove_prefix(first);
            started = true;
        }
        return !on_piece || on_piece(piece);
    };
    auto generated = generate(session_, *tokenizer_, sampler_, tokens, options, shown);
    const bool prompt_cut = generated && generated->stop_reason == StopReason::Cancelled &&
                            generated->prompt_tokens < static_cast<std::int64_t>(tokens.size());
    if (!generated || prompt_cut) {
        // Leave the conversation as it was before this message: a state holding part of the
        // user's turn would continue from words nobody finished saying.
        session_ = before_last_->session;
        sampler_ = before_last_->sampler;
        after_separator_ = before_last_->after_separator;
        if (!generated) return generated.error();
        // The last exchange in the transcript is no longer the one just before this state.
        before_last_.reset();
        ChatTurn turn;
        turn.generation = std::move(generated).value();
        return turn;
    }
    after_separator_ = generated->ended_at_blank_line();
    transcript_.push_back({ChatRole::User, std::string(user_text)});
    transcript_.push_back({ChatRole::Assistant, generated->text});
    ChatTurn turn;
    turn.reply = std::string(trim(generated->text));
    turn.generation = std::move(generated).value();
    return turn;
}

Result<void> ChatLoop::set(std::string_view raw_name, std::string_view value) {
    std::string name(raw_name);
    for (auto& c : name) c = c == '-' ? '_' : c;
    if (name == "system") {
        config_.system = std::string(value);
        return {};
    }
    SamplerSettings s = sampler_.settings();
    if (name == "top_k" || name == "max_tokens" || name == "seed") {
        auto v = parse_integer(name, value);
        if (!v) return v.error();
        if (name == "seed") {
            if (*v < 0) return make_error("seed must be >= 0");
            s.seed = static_cast<std::uint64_t>(*v);
        } else {
            if (*v < -1'000'000'000LL || *v > 1'000'000'000LL) {
                return make_error(name + " is out of range");
            }
            (name == "top_k" ? s.top_k : s.max_tokens) = static_cast<int>(*v);
        }
    } else {
        float* field = name == "temperature" ? &s.temperature
                       : name == "top_p"     ? &s.top_p
                       : name == "min_p"     ? &s.min_p
                       : name == "presence"  ? &s.presence_penalty
                       : name == "frequency" ? &s.frequency_penalty
                       : name == "decay"     ? &s.penalty_decay
                                             : nullptr;
        if (field == nullptr) {
            return make_error("unknown setting '" + std::string(raw_name) +
                              "' (temperature, top_p, top_k, min_p, presence, frequency, decay, "
                              "max_tokens, seed, system)");
        }
        auto v = parse_number(name, value);
        if (!v) return v.error();
        *field = static_cast<float>(*v);
    }
    const bool reseed = s.seed != sampler_.settings().seed;
    if (auto ok = sampler_.update_settings(s); !ok) return ok;
    if (reseed) sampler_.set_rng(Xoshiro256(s.seed));
    config_.sampler = s;
    return {};
}

std::string ChatLoop::describe_settings() const {
    const SamplerSettings& s = sampler_.settings();
    std::ostringstream os;
    os << "template " << config_.chat_template.name() << ", tokenizer " << tokenizer_->kind_name()
       << "\ntemperature " << s.temperature << ", top_p " << s.top_p << ", top_k " << s.top_k
       << ", min_p " << s.min_p << "\npresence " << s.presence_penalty << ", frequency "
       << s.frequency_penalty << ", decay " << s.penalty_decay << "\nmax_tokens " << s.max_tokens
       << ", seed " << s.seed << "\nthreads " << session_.threads() << "\nsystem "
       << (config_.system.empty() ? "(none)" : "\"" + config_.system + "\"") << "\n";
    return os.str();
}

int ChatLoop::run_interactive(std::istream& in, std::ostream& out, std::ostream& err) {
    ChatInterrupt interrupt;
    set_cancel_flag(interrupt.cancel_flag());
    struct Unset {
        ChatLoop* chat;
        ~Unset() { chat->set_cancel_flag(nullptr); }
    } unset{this};
    out << "ravel chat (" << config_.chat_template.name() << " template). /help lists commands.\n";
    const PieceCallback stream = [&](std::string_view piece) {
        out << piece << std::flush;
        return true;
    };
    const auto report = [&](const Result<ChatTurn>& turn) {
        if (!turn) {
            err << "error: " << turn.message() << "\n";
            return;
        }
        const GenerationResult& g = turn->generation;
        out << "\n";
        err.setf(std::ios::fixed);
        err.precision(1);
        err << "[" << g.prompt_tokens << " prompt tokens, " << g.prompt_tokens_per_s() << " tok/s; "
            << g.generated_tokens << " generated, " << g.generation_tokens_per_s()
            << " tok/s; stop: " << stop_reason_name(g.stop_reason) << "]\n";
    };
    std::string line;
    for (;;) {
        out << "> " << std::flush;
        interrupt.at_prompt();
        if (interrupt.exit_requested() || !std::getline(in, line)) {
            out << "\n";
            return 0;
        }
        const std::string_view text = trim(line);
        if (text.empty()) continue;
        // Label the reply the way the template names the speaker ("Assistant:", "Alice:").
        const auto label = [&] {
            const std::string_view prefix = config_.chat_template.assistant_prefix();
            out << prefix << (prefix.back() == ':' ? " " : "") << std::flush;
        };
        if (text.front() != '/') {
            label();
            interrupt.replying();
            report(send(unescape_newlines(text), stream));
            if (interrupt.exit_requested()) return 0;
            continue;
        }
        std::istringstream words{std::string(text)};
        std::string command;
        words >> command;
        if (command == "/quit" || command == "/exit") return 0;
        if (command == "/help") {
            out << kHelp;
        } else if (command == "/reset") {
            reset();
            out << "(new conversation)\n";
        } else if (command == "/regen") {
            label();
            interrupt.replying();
            report(regenerate(stream));
            if (interrupt.exit_requested()) return 0;
        } else if (command == "/settings") {
            out << describe_settings();
        } else if (command == "/set") {
            std::string name;
            words >> name;
            std::string value;
            std::getline(words, value);
            if (name.empty() || trim(value).empty()) {
                err << "usage: /set NAME VALUE\n";
            } else if (auto ok = set(name, trim(value)); !ok) {
                err << "error: " << ok.message() << "\n";
            } else {
                out << name << " = " << trim(value) << "\n";
            }
        } else {
            err << "unknown command " << command << " (/help lists them)\n";
        }
    }
}

int ChatLoop::run_prompts(const std::vector<std::string>& prompts, bool json, std::ostream& out,
                          std::ostream& err) {
    for (const auto& prompt : prompts) {
        PieceCallback stream;
        if (!json) {
            stream = [&](std::string_view piece) {
                out << piece << std::flush;
                return true;
            };
        }
        auto turn = send(prompt, stream);
        if (!turn) {
            err << "ravel-cli chat: " << turn.message() << "\n";
            return 1;
        }
        if (!json) {
            out << "\n";
            continue;
        }
        const GenerationResult& g = turn->generation;
        nlohmann::json j;
        j["conversation"] = nullptr;
        j["reply"] = turn->reply;
        j["prompt_tokens"] = g.prompt_tokens;
        j["generated_tokens"] = g.generated_tokens;
        j["resumed_from_snapshot"] = false;
        j["resume_ms"] = 0;
        j["stop_reason"] = std::string(stop_reason_name(g.stop_reason));
        j["prompt_tokens_per_s"] = g.prompt_tokens_per_s();
        j["generation_tokens_per_s"] = g.generation_tokens_per_s();
        j["threads"] = session_.threads();
        out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"
            << std::flush;
    }
    return 0;
}

}  // namespace ravel::cli
