#include "chat_db.hpp"

#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "chat_interrupt.hpp"
#include "chat_options.hpp"
#include "chat_transfer.hpp"
#include "conversation/model_context.hpp"
#include "conversation/runner.hpp"
#include "json_out.hpp"
#include "model_options.hpp"
#include "storage/store.hpp"

namespace ravel::cli {

namespace {

// At most `max_bytes` of `text`, cut before a character rather than inside one: a title cut
// inside a character is stored as invalid UTF-8.
std::string utf8_prefix(const std::string& text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return text;
    std::size_t n = max_bytes;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    return text.substr(0, n);
}

using conversation::ConversationRunner;
using nlohmann::json;

std::string trim_left(std::string s) {
    const auto p = s.find_first_not_of(" \t\n");
    return p == std::string::npos ? std::string() : s.substr(p);
}

int list_conversations(storage::Store& store, bool as_json, std::ostream& out, std::ostream& err) {
    auto list = store.list_conversations();
    if (!list) {
        err << "ravel-cli chat: " << list.message() << "\n";
        return 1;
    }
    json arr = json::array();
    for (const auto& c : *list) {
        auto msgs = store.messages(c.id);
        const std::size_t n = msgs ? msgs->size() : 0;
        if (as_json) {
            arr.push_back({{"conversation", c.id},
                           {"title", c.title},
                           {"messages", n},
                           {"updated_ms", c.updated_ms}});
        } else {
            out << c.id << "\t" << c.title << "\t" << n << " messages\n";
        }
    }
    if (as_json) out << json_text(arr) << "\n";
    return 0;
}

}  // namespace

int chat_with_db(const Args& args, std::istream& in, std::ostream& out, std::ostream& err) {
    const auto db_path = args.get("db");
    if (!db_path) {
        err << "ravel-cli chat: --db FILE is required here\n";
        return 2;
    }
    const int modes = int(args.flag("new")) + int(args.flag("list")) +
                      int(args.has("conversation")) + int(args.has("export")) +
                      int(args.has("import"));
    if (modes != 1) {
        err << "ravel-cli chat: with --db give exactly one of --new, --conversation ID, --list, "
               "--export ID, --import FILE\n";
        return 2;
    }
    auto store = storage::Store::open(*db_path);
    if (!store) {
        err << "ravel-cli chat: " << store.message() << "\n";
        return 1;
    }
    const bool as_json = args.flag("json");
    if (args.flag("list")) return list_conversations(*store, as_json, out, err);
    if (args.has("export")) return export_conversation(*store, args, out, err);
    if (args.has("import")) return import_conversation(*store, args, out, err);

    conversation::ModelContextOptions mo;
    auto kind = tokenizer_kind_from_args(args);
    auto tmpl = chat_template_from_args(args);
    auto load = load_options_from_args(args);
    auto session_options = session_options_from_args(args);
    for (const std::string* bad :
         {kind ? nullptr : &kind.message(), tmpl ? nullptr : &tmpl.message(),
          load ? nullptr : &load.message(),
          session_options ? nullptr : &session_options.message()}) {
        if (bad != nullptr) {
            err << "ravel-cli chat: " << *bad << "\n";
            return 2;
        }
    }
    mo.tokenizer = *kind;
    mo.tokenizer_search = tokenizer_search_from_args(args);
    mo.chat_template = *tmpl;
    mo.load = *load;
    const auto model_path = args.get("model");
    if (!model_path) {
        err << "ravel-cli chat: --model FILE is required to continue a conversation: the model it "
               "was held with (the demo model is the default only for --new)\n";
        return 2;
    }
    auto ctx = conversation::load_model_context(*model_path, mo);
    if (!ctx) {
        err << "ravel-cli chat: " << ctx.message() << "\n";
        return 1;
    }
    if (!ctx->model->device_note().empty()) {
        err << "ravel-cli: " << ctx->model->device_note() << "\n";
    }
    ConversationRunner runner(*store, std::move(*ctx), *session_options);

    std::int64_t conv_id = 0;
    SamplerSettings settings;
    const auto prompts = args.all("prompt");
    if (args.flag("new")) {
        auto s = apply_sampler_options(args, SamplerSettings::chat_defaults());
        if (!s) {
            err << "ravel-cli chat: " << s.message() << "\n";
            return 2;
        }
        settings = *s;
        std::string title = prompts.empty() ? "Chat" : utf8_prefix(prompts.front(), 60);
        auto conv = runner.create(title, settings, args.get_or("system", ""));
        if (!conv) {
            err << "ravel-cli chat: " << conv.message() << "\n";
            return 1;
        }
        conv_id = conv->id;
    } else {
        auto id = args.get_int("conversation", 0, 1, std::numeric_limits<long long>::max());
        if (!id) {
            err << "ravel-cli chat: " << id.message() << "\n";
            return 2;
        }
        conv_id = *id;
        auto stored = runner.default_settings(conv_id);
        if (!stored) {
            err << "ravel-cli chat: " << stored.message() << "\n";
            return 1;
        }
        auto s = apply_sampler_options(args, *stored);
        if (!s) {
            err << "ravel-cli chat: " << s.message() << "\n";
            return 2;
        }
        settings = *s;
    }

    auto turn = [&](const std::string& prompt, const conversation::ReplyOptions& options) -> int {
        // Continue after the newest message; an unanswered question (a crash during its reply)
        // is replaced by the new one as a sibling.
        auto latest = store->latest_message(conv_id);
        if (!latest) {
            err << "ravel-cli chat: " << latest.message() << "\n";
            return 1;
        }
        std::optional<std::int64_t> parent;
        if (*latest) {
            parent = (*latest)->role == storage::Role::User ? (*latest)->parent_id
                                                            : std::optional((*latest)->id);
        }
        auto result =
            runner.send(conv_id, parent, prompt, settings, options, [&](std::string_view piece) {
                if (!as_json) out << piece << std::flush;
                return true;
            });
        if (!result) {
            err << "ravel-cli chat: " << result.message() << "\n";
            return 1;
        }
        if (as_json) {
            out << json_text(json{{"conversation", conv_id},
                                  {"message", result->reply.id},
                                  {"reply", trim_left(result->generation.text)},
                                  {"prompt_tokens", result->prompt_tokens},
                                  {"generated_tokens", result->generation.tokens.size()},
                                  {"stop_reason", stop_reason_name(result->generation.stop_reason)},
                                  {"resumed_from_snapshot", result->resume.from_snapshot},
                                  {"replayed_tokens", result->resume.replayed_tokens},
                                  {"resume_ms", result->resume.resume_ms},
                                  {"threads", runner.session().threads()}})
                << "\n";
        } else {
            out << "\n";
            if (result->generation.stop_reason == StopReason::Cancelled) err << "[cancelled]\n";
        }
        return 0;
    };

    if (prompts.empty()) {
        if (!as_json) err << "conversation " << conv_id << " (one line per message, /quit ends)\n";
        // Ctrl-C stops a reply (what was said so far is kept); at the prompt it ends the chat.
        ChatInterrupt interrupt;
        conversation::ReplyOptions live;
        live.cancel = interrupt.cancel_flag();
        std::string line;
        for (;;) {
            interrupt.at_prompt();
            if (interrupt.exit_requested() || !std::getline(in, line)) break;
            if (line == "/quit") break;
            if (line.empty()) continue;
            interrupt.replying();
            if (int rc = turn(line, live); rc != 0) return rc;
            if (interrupt.exit_requested()) break;
        }
        return 0;
    }
    for (const auto& p : prompts) {
        if (int rc = turn(p, {}); rc != 0) return rc;
    }
    return 0;
}

}  // namespace ravel::cli
