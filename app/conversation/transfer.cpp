#include "conversation/transfer.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <sstream>

#include "conversation/reply.hpp"
#include "conversation/settings_json.hpp"
#include "ravel/resume_record.hpp"
#include "ravel/tokenizer.hpp"
#include "storage/types.hpp"

namespace ravel::conversation {

using nlohmann::json;
using storage::Role;

namespace {

constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::size_t kMaxMessages = 1'000'000;
constexpr std::int64_t kMaxTokenId = 1 << 24;
constexpr std::size_t kTemplateTokens = 256;
constexpr std::size_t kMaxReplyTokens =
    1'000'000;  // SamplerSettings' largest max_tokens  // "System: ", "\n\nUser: ",
                // "\n\nAssistant:", ...

json settings_value(const std::string& text) {
    json j = json::parse(text, nullptr, false);
    return j.is_object() ? j : json::object();
}

// Deletes a half-imported conversation unless released.
struct ImportGuard {
    storage::Store& store;
    std::optional<std::int64_t> id;
    ~ImportGuard() {
        if (id) (void)store.delete_conversation(*id);
    }
};

Result<std::int64_t> get_int(const json& j, const char* key, std::int64_t fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number_integer())
        return make_error(std::string("\"") + key + "\" must be an integer");
    return it->get<std::int64_t>();
}

// Empty when absent. (json::value(key, "") would throw on a present key of another type.)
Result<std::string> get_string(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::string();
    if (!it->is_string()) return make_error(std::string("\"") + key + "\" must be a string");
    return it->get<std::string>();
}

// The Markdown section headings, one per role: written by export, read by import.
constexpr std::pair<Role, std::string_view> kHeadings[] = {
    {Role::System, "## System"}, {Role::User, "## User"}, {Role::Assistant, "## Assistant"}};

std::string_view heading_of(Role role) {
    for (const auto& [r, heading] : kHeadings) {
        if (r == role) return heading;
    }
    return kHeadings[2].second;
}

std::optional<Role> role_of_heading(std::string_view line) {
    for (const auto& [r, heading] : kHeadings) {
        if (line == heading) return r;
    }
    return std::nullopt;
}

// Markdown: a message line that reads like a section heading ("## User", also after any number
// of backslashes) is written with one more backslash, and import takes one away, so a message
// that quotes a heading comes back as one message with its text unchanged.
bool is_heading_or_escaped(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // import drops it too
    while (!line.empty() && line.front() == '\\') line.remove_prefix(1);
    return role_of_heading(line).has_value();
}

std::string escape_heading_lines(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + start, end - start);
        if (is_heading_or_escaped(line)) out += '\\';
        out += line;
        if (end < text.size()) out += '\n';
        start = end + 1;
    }
    return out;
}

}  // namespace

std::string base64_encode(std::span<const std::byte> bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t v = std::uint32_t(bytes[i]) << 16;
        if (i + 1 < bytes.size()) v |= std::uint32_t(bytes[i + 1]) << 8;
        if (i + 2 < bytes.size()) v |= std::uint32_t(bytes[i + 2]);
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? kB64[(v >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? kB64[v & 63] : '=';
    }
    return out;
}

std::optional<std::vector<std::byte>> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::vector<std::byte> out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t v = 0;
        int pad = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = text[i + k];
            std::uint32_t d = 0;
            if (c == '=') {
                if (i + 4 != text.size() || k < 2) return std::nullopt;
                ++pad;
            } else {
                if (pad > 0) return std::nullopt;
                const auto p = kB64.find(c);
                if (p == std::string_view::npos) return std::nullopt;
                d = static_cast<std::uint32_t>(p);
            }
            v = (v << 6) | d;
        }
        out.push_back(std::byte((v >> 16) & 0xff));
        if (pad < 2) out.push_back(std::byte((v >> 8) & 0xff));
        if (pad < 1) out.push_back(std::byte(v & 0xff));
    }
    return out;
}

Result<std::string> export_json(storage::Store& store, std::int64_t conversation_id,
                                const ExportOptions& options) {
    auto conv = store.conversation(conversation_id);
    if (!conv) return conv.error();
    auto msgs = store.messages(conversation_id);
    if (!msgs) return msgs.error();
    json doc = {
        {"format", "ravel-conversation"}, {"version", kConversationJsonVersion},
        {"title", conv->title},           {"created_ms", conv->created_ms},
        {"updated_ms", conv->updated_ms}, {"settings", settings_value(conv->settings_json)}};
    if (conv->has_start_state) {
        auto blob = store.start_state(conversation_id);
        if (!blob) return blob.error();
        if (*blob) {
            doc["start_state"] = {{"name", conv->start_state_name},
                                  {"base64", base64_encode(**blob)}};
        }
    }
    json list = json::array();
    for (const auto& m : *msgs) {
        json jm = {{"id", m.id},
                   {"parent", m.parent_id ? json(*m.parent_id) : json(nullptr)},
                   {"role", std::string(storage::role_name(m.role))},
                   {"text", m.text},
                   {"created_ms", m.created_ms},
                   {"sibling_order", m.sibling_order},
                   {"settings", settings_value(m.settings_json)}};
        if (options.include_tokens && !m.tokens.empty()) jm["tokens"] = m.tokens;
        if (options.include_snapshots) {
            auto snap = store.snapshot(m.id);
            if (!snap) return snap.error();
            if (*snap) {
                jm["snapshot"] = {{"model_fingerprint", (*snap)->ref.model_fingerprint},
                                  {"base64", base64_encode((*snap)->blob)}};
            }
        }
        list.push_back(std::move(jm));
    }
    doc["messages"] = std::move(list);
    // Text that is not UTF-8 (a Markdown import is checked, but rows may come from elsewhere)
    // is written with U+FFFD for its bad bytes rather than failing the whole export.
    return doc.dump(1, ' ', false, json::error_handler_t::replace);
}

Result<std::int64_t> import_json(storage::Store& store, const std::string& text) {
    if (text.size() > kMaxImportBytes) return make_error("conversation file is too large");
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return make_error("conversation file is not JSON");
    auto format = get_string(doc, "format");
    if (!format || *format != "ravel-conversation") {
        return make_error("not a Ravel conversation (\"format\" is not \"ravel-conversation\")");
    }
    auto version = get_int(doc, "version", 0);
    if (!version) return version.error();
    if (*version != kConversationJsonVersion) {
        return make_error("conversation file version " + std::to_string(*version) +
                          " is not supported (this build reads " +
                          std::to_string(kConversationJsonVersion) + ")");
    }
    auto title = doc.find("title");
    auto messages = doc.find("messages");
    if (title == doc.end() || !title->is_string()) return make_error("\"title\" must be a string");
    if (messages == doc.end() || !messages->is_array() || messages->size() > kMaxMessages) {
        return make_error("\"messages\" must be a list of at most 1000000 messages");
    }
    auto created = get_int(doc, "created_ms", 0);
    if (!created) return created.error();
    json settings = doc.value("settings", json::object());
    if (!settings.is_object()) return make_error("\"settings\" must be an object");
    // Settings that every later reply would refuse are refused now, not at each resume.
    if (auto s = settings.find("sampler"); s != settings.end()) {
        auto checked = sampler_from_json(*s, SamplerSettings::chat_defaults());
        const Result<void> valid = checked ? checked->validate() : Result<void>(checked.error());
        if (!valid) return make_error("\"settings\": " + valid.message());
    }

    // Validate everything before writing anything.
    struct Pending {
        storage::NewMessage m;
        std::int64_t file_id = 0;
        std::optional<std::int64_t> file_parent;
        std::optional<std::pair<std::string, std::vector<std::byte>>> snapshot;
    };
    std::vector<Pending> pending;
    std::map<std::int64_t, std::size_t> seen;
    for (std::size_t i = 0; i < messages->size(); ++i) {
        const json& jm = (*messages)[i];
        const std::string at = "message " + std::to_string(i) + ": ";
        if (!jm.is_object()) return make_error(at + "not an object");
        Pending p;
        auto id = get_int(jm, "id", -1);
        if (!id || *id < 0 || seen.count(*id)) return make_error(at + "missing or repeated \"id\"");
        p.file_id = *id;
        if (auto par = jm.find("parent"); par != jm.end() && !par->is_null()) {
            if (!par->is_number_integer() || !seen.count(par->get<std::int64_t>())) {
                return make_error(at + "\"parent\" must name an earlier message");
            }
            p.file_parent = par->get<std::int64_t>();
        }
        auto role = jm.find("role");
        auto r = role != jm.end() && role->is_string()
                     ? storage::role_from_name(role->get<std::string>())
                     : std::nullopt;
        if (!r) return make_error(at + "\"role\" must be system, user or assistant");
        p.m.role = *r;
        auto t = jm.find("text");
        if (t == jm.end() || !t->is_string()) return make_error(at + "\"text\" must be a string");
        p.m.text = t->get<std::string>();
        auto c = get_int(jm, "created_ms", *created);
        if (!c) return make_error(at + c.message());
        p.m.created_ms = *c;
        json ms = jm.value("settings", json::object());
        if (!ms.is_object()) return make_error(at + "\"settings\" must be an object");
        p.m.settings_json = ms.dump();
        if (p.m.role == Role::Assistant) {
            auto reply = parse_reply_settings(p.m.settings_json, SamplerSettings::chat_defaults());
            const Result<void> valid = !reply           ? Result<void>(reply.error())
                                       : reply->sampler ? reply->sampler->validate()
                                                        : Result<void>{};
            if (!valid) return make_error(at + valid.message());
        }
        if (auto tk = jm.find("tokens"); tk != jm.end()) {
            if (!tk->is_array()) return make_error(at + "\"tokens\" must be a list");
            // A typed message's ids encode its text (each id at least one byte) in the chat
            // template; a reply's may stand for more than its shown text (bytes that were not
            // UTF-8, blank space trimmed), up to the longest reply the sampler allows.
            const std::size_t most =
                p.m.role == Role::Assistant ? kMaxReplyTokens : p.m.text.size() + kTemplateTokens;
            if (tk->size() > most) {
                return make_error(at + "more token ids (" + std::to_string(tk->size()) +
                                  ") than the message can have (" + std::to_string(most) + ")");
            }
            if (!tk->empty() && p.m.role == Role::Assistant && !p.file_parent) {
                return make_error(at + "a reply with token ids must follow a message");
            }
            for (const auto& v : *tk) {
                if (!v.is_number_integer() || v.get<std::int64_t>() < 0 ||
                    v.get<std::int64_t>() >= kMaxTokenId) {
                    return make_error(at + "token ids must be integers in [0, 2^24)");
                }
                p.m.tokens.push_back(static_cast<std::int32_t>(v.get<std::int64_t>()));
            }
        }
        if (auto s = jm.find("snapshot"); s != jm.end() && s->is_object()) {
            auto fp = get_string(*s, "model_fingerprint");
            auto encoded = get_string(*s, "base64");
            auto blob = encoded ? base64_decode(*encoded) : std::nullopt;
            // A bad snapshot is only a lost cache entry: dropped, not an import failure.
            if (blob && fp && fp->size() == 32 &&
                fp->find_first_not_of("0123456789abcdef") == std::string::npos) {
                p.snapshot = std::make_pair(*fp, std::move(*blob));
            }
        }
        seen[p.file_id] = i;
        pending.push_back(std::move(p));
    }
    std::optional<std::vector<std::byte>> start_state;
    std::string start_state_name;
    if (auto ss = doc.find("start_state"); ss != doc.end() && !ss->is_null()) {
        if (!ss->is_object()) return make_error("\"start_state\" must be an object");
        auto encoded = get_string(*ss, "base64");
        auto name = get_string(*ss, "name");
        if (!encoded || !name)
            return make_error("\"start_state\": \"base64\" and \"name\" must be strings");
        start_state = base64_decode(*encoded);
        if (!start_state) return make_error("\"start_state\" is not valid base64");
        // Every resume starts from it, so a damaged one is refused here.
        if (auto record = decode_resume_record(*start_state); !record) {
            return make_error("\"start_state\": " + record.message());
        }
        start_state_name = std::move(*name);
    }

    auto conv = store.create_conversation(title->get<std::string>(), settings.dump(), *created);
    if (!conv) return conv.error();
    ImportGuard guard{store, conv->id};
    if (start_state) {
        if (auto r = store.set_start_state(conv->id, *start_state, start_state_name); !r) {
            return r.error();
        }
    }
    std::map<std::int64_t, std::int64_t> new_id;
    for (auto& p : pending) {
        p.m.conversation_id = conv->id;
        if (p.file_parent) p.m.parent_id = new_id.at(*p.file_parent);
        auto added = store.add_message(p.m);
        if (!added) return added.error();
        new_id[p.file_id] = added->id;
        if (p.snapshot) {
            (void)store.put_snapshot(added->id, p.snapshot->second, p.snapshot->first);
        }
    }
    guard.id.reset();
    return conv->id;
}

Result<std::string> export_markdown(storage::Store& store, std::int64_t conversation_id,
                                    std::optional<std::int64_t> leaf) {
    auto conv = store.conversation(conversation_id);
    if (!conv) return conv.error();
    if (!leaf) {
        auto latest = store.latest_message(conversation_id);
        if (!latest) return latest.error();
        if (*latest) leaf = (*latest)->id;
    }
    std::ostringstream out;
    std::string title = conv->title;
    for (char& c : title) {
        if (c == '\n' || c == '\r') c = ' ';  // one line, or the rest would become body text
    }
    out << "# " << title << "\n";
    if (!leaf) return out.str();
    auto path = store.path_to(*leaf);
    if (!path) return path.error();
    if (!path->empty() && path->back().conversation_id != conversation_id) {
        return make_error("message " + std::to_string(*leaf) + " is not in conversation " +
                          std::to_string(conversation_id));
    }
    for (const auto& m : *path) {
        std::string text = m.text;
        // Blank space at either end goes (a carriage return too: import drops one per line, so
        // a last line of "\r" would otherwise come back as an empty line, then be trimmed).
        constexpr std::string_view kBlank = " \t\r\n";
        const auto first = text.find_first_not_of(kBlank);
        const auto last = text.find_last_not_of(kBlank);
        text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
        out << "\n" << heading_of(m.role) << "\n\n" << escape_heading_lines(text) << "\n";
    }
    return out.str();
}

Result<std::int64_t> import_markdown(storage::Store& store, const std::string& text) {
    if (text.size() > kMaxImportBytes) return make_error("Markdown file is too large");
    if (auto bad = first_invalid_utf8(text)) {
        return make_error("Markdown file is not UTF-8 text (byte " + std::to_string(*bad) +
                          "); convert it to UTF-8 and import it again");
    }
    std::istringstream in(text);
    std::string line, title = "Imported conversation";
    bool titled = false;
    std::vector<std::pair<Role, std::string>> msgs;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (msgs.empty() && line.rfind("# ", 0) == 0) {
            title = line.substr(2);
            titled = true;
            continue;
        }
        if (const auto role = role_of_heading(line)) {
            msgs.emplace_back(*role, std::string());
            continue;
        }
        if (msgs.empty()) continue;                         // text before the first heading
        if (is_heading_or_escaped(line)) line.erase(0, 1);  // one backslash, added by export
        msgs.back().second += line + "\n";
    }
    // A title alone is an empty conversation (what exporting one writes).
    if (msgs.empty() && !titled) {
        return make_error("no \"## User\" / \"## Assistant\" sections found");
    }
    auto conv = store.create_conversation(title);
    if (!conv) return conv.error();
    ImportGuard guard{store, conv->id};
    std::optional<std::int64_t> parent;
    for (auto& [role, body] : msgs) {
        const auto a = body.find_first_not_of('\n');
        const auto b = body.find_last_not_of('\n');
        storage::NewMessage m;
        m.conversation_id = conv->id;
        m.parent_id = parent;
        m.role = role;
        m.text = a == std::string::npos ? std::string() : body.substr(a, b - a + 1);
        auto added = store.add_message(m);
        if (!added) return added.error();
        parent = added->id;
    }
    guard.id.reset();
    return conv->id;
}

}  // namespace ravel::conversation
