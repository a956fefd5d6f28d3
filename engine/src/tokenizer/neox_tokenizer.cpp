// GPT-NeoX 20B (RWKV-4 Pile / Raven): Hugging Face tokenizer.json with an NFC normalizer, a
// ByteLevel pre-tokenizer and a BPE model. Encoding follows Hugging Face's order:
//   1. split out added tokens that are matched on raw text (<|endoftext|>, <|padding|>);
//   2. NFC-normalise the rest, then split out added tokens matched on normalised text (the
//      space runs 50254..50276), leftmost-longest;
//   3. split words with GPT-2's pattern, then BPE each word (cached).
#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "ravel/tokenizer.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/file_io.hpp"
#include "tokenizer/pretokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace ravel {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxJsonBytes = 64u << 20;
constexpr std::int64_t kMaxNeoxId = 1 << 22;
// Words up to this many bytes are cached; the cache is dropped when it grows past the limit.
constexpr std::size_t kMaxCachedWordBytes = 48;
constexpr std::size_t kMaxCacheEntries = 1 << 16;

struct AddedToken {
    std::string content;
    std::int32_t id;
};

// Leftmost-longest matching of a small set of literal strings (Hugging Face uses Aho-Corasick
// with the same match semantics; with ~25 tokens a first-byte filter is enough).
class AddedTokenMatcher {
  public:
    void add(AddedToken t) {
        if (t.content.empty()) return;
        const auto first = static_cast<unsigned char>(t.content[0]);
        first_byte_[first] = true;
        // Most text has lone spaces; the second byte rules out the space-run tokens at once.
        if (t.content.size() == 1) {
            any_second_[first] = true;
        } else {
            second_byte_[first][static_cast<unsigned char>(t.content[1])] = true;
        }
        tokens_.push_back(std::move(t));
        std::stable_sort(tokens_.begin(), tokens_.end(), [](const auto& a, const auto& b) {
            return a.content.size() > b.content.size();
        });
    }
    bool empty() const { return tokens_.empty(); }

    // Calls text(piece) for text between matches and token(id) for each match, in order.
    template <class TextFn, class TokenFn>
    void split(std::string_view s, TextFn&& text, TokenFn&& token) const {
        std::size_t start = 0;
        for (std::size_t i = 0; i < s.size();) {
            const AddedToken* hit = nullptr;
            const auto b0 = static_cast<unsigned char>(s[i]);
            if (first_byte_[b0] &&
                (any_second_[b0] ||
                 (i + 1 < s.size() && second_byte_[b0][static_cast<unsigned char>(s[i + 1])]))) {
                for (const AddedToken& t : tokens_) {  // longest first
                    if (s.compare(i, t.content.size(), t.content) == 0) {
                        hit = &t;
                        break;
                    }
                }
            }
            if (hit == nullptr) {
                ++i;
                continue;
            }
            if (i > start) text(s.substr(start, i - start));
            token(hit->id);
            i += hit->content.size();
            start = i;
        }
        if (start < s.size()) text(s.substr(start));
    }

  private:
    std::vector<AddedToken> tokens_;
    bool first_byte_[256] = {};
    bool any_second_[256] = {};  // a one-byte token starts with this byte
    bool second_byte_[256][256] = {};
};

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class NeoxTokenizer final : public Tokenizer {
  public:
    TokenizerKind kind() const override { return TokenizerKind::NeoX; }
    const std::string& id() const override { return id_; }
    std::int32_t vocab_size() const override { return static_cast<std::int32_t>(bytes_.size()); }
    std::optional<std::int32_t> end_of_text() const override { return end_of_text_; }

    std::string_view token_bytes(std::int32_t id) const override {
        if (!contains(id)) return {};
        return bytes_[static_cast<std::size_t>(id)];
    }

    std::vector<std::int32_t> encode(std::string_view input) const override {
        std::vector<std::int32_t> out;
        out.reserve(input.size() / 3 + 1);
        // The Hugging Face tokenizer only ever sees valid text.
        std::string sanitized;
        if (!tok::is_ascii(input) && !tok::is_valid_utf8(input)) {
            sanitized = tok::sanitize_utf8(input);
            input = sanitized;
        }
        std::lock_guard<std::mutex> lock(cache_mutex_);
        auto push_id = [&](std::int32_t id) { out.push_back(id); };
        raw_added_.split(
            input,
            [&](std::string_view piece) {
                const std::string normalized = tok::nfc_normalize(piece);
                normalized_added_.split(
                    normalized, [&](std::string_view text) { encode_text(text, out); }, push_id);
            },
            push_id);
        return out;
    }

  private:
    friend Result<std::unique_ptr<Tokenizer>> build_neox(const json& root, std::string_view src,
                                                         std::string_view raw_text);

    void encode_text(std::string_view text, std::vector<std::int32_t>& out) const {
        words_.clear();
        tok::split_gpt2_words(text, words_);
        for (std::string_view w : words_) {
            if (w.size() > kMaxCachedWordBytes) {
                merges_.encode_word(w, out);
                continue;
            }
            if (auto it = cache_.find(w); it != cache_.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                continue;
            }
            const std::size_t before = out.size();
            merges_.encode_word(w, out);
            if (cache_.size() >= kMaxCacheEntries) cache_.clear();
            cache_.emplace(std::string(w),
                           std::vector<std::int32_t>(
                               out.begin() + static_cast<std::ptrdiff_t>(before), out.end()));
        }
    }

    std::vector<std::string> bytes_;  // decode bytes per id (empty for special tokens)
    tok::BpeMerges merges_;
    AddedTokenMatcher raw_added_;
    AddedTokenMatcher normalized_added_;
    std::optional<std::int32_t> end_of_text_;
    std::string id_;

    // Guarded by cache_mutex_ (encode may be called from several threads).
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>>
        cache_;
    mutable std::vector<std::string_view> words_;
};

Result<std::string> byte_level_to_bytes(const std::string& text,
                                        const tok::ByteLevelAlphabet& alphabet) {
    std::string out;
    for (std::size_t pos = 0; pos < text.size();) {
        const tok::Utf8Step step = tok::utf8_step(text, pos);
        if (step.status != tok::Utf8Status::Complete) return make_error("invalid UTF-8");
        const int b = alphabet.byte_for(step.code_point);
        if (b < 0) return make_error("character outside the byte-level alphabet");
        out.push_back(static_cast<char>(b));
        pos += step.length;
    }
    return out;
}

Result<std::unique_ptr<Tokenizer>> build_neox(const json& root, std::string_view src_view,
                                              std::string_view raw_text) {
    const std::string src(src_view);
    auto fail = [&](const std::string& what) { return make_error(src + ": " + what); };
    if (!root.is_object()) return fail("not a tokenizer.json object");

    const json* model = root.contains("model") ? &root["model"] : nullptr;
    if (model == nullptr || !model->is_object()) return fail("missing \"model\"");
    if (model->contains("type") && (*model)["type"] != "BPE") {
        return fail("model type is not BPE; only byte-level BPE tokenizers are supported");
    }
    for (const char* unsupported : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        if (model->contains(unsupported) && !(*model)[unsupported].is_null()) {
            return fail(std::string("BPE option \"") + unsupported + "\" is not supported");
        }
    }
    if (root.contains("normalizer") && !root["normalizer"].is_null()) {
        const json& n = root["normalizer"];
        if (!n.is_object() || n.value("type", "") != "NFC") {
            return fail("only the NFC normalizer is supported");
        }
    }
    if (root.contains("pre_tokenizer") && !root["pre_tokenizer"].is_null()) {
        const json& p = root["pre_tokenizer"];
        if (!p.is_object() || p.value("type", "") != "ByteLevel") {
            return fail("only the ByteLevel pre-tokenizer is supported");
        }
        if (p.value("add_prefix_space", false)) {
            return fail("ByteLevel add_prefix_space=true is not supported");
        }
        if (!p.value("use_regex", true)) return fail("ByteLevel use_regex=false is not supported");
    }

    // operator[] on a const json asserts on a missing key, so every lookup checks first.
    const json null_value;
    const json& vocab = model->contains("vocab") ? (*model)["vocab"] : null_value;
    if (!vocab.is_object() || vocab.empty()) return fail("model.vocab must be a non-empty object");
    const json& merges = model->contains("merges") ? (*model)["merges"] : null_value;
    if (!merges.is_array()) return fail("model.merges must be an array");
    const json empty_array = json::array();
    const json& added = root.contains("added_tokens") ? root["added_tokens"] : empty_array;
    if (!added.is_array()) return fail("added_tokens must be an array");

    auto tok = std::make_unique<NeoxTokenizer>();
    const tok::ByteLevelAlphabet alphabet;
    std::unordered_map<std::string, std::int32_t> id_of;  // token bytes -> id, for merges
    std::int64_t max_id = -1;
    auto check_id = [&](const json& v, const std::string& name) -> Result<std::int32_t> {
        if (!v.is_number_integer()) return fail("id of token '" + name + "' is not an integer");
        const auto id = v.get<std::int64_t>();
        if (id < 0 || id >= kMaxNeoxId) {
            return fail("id " + std::to_string(id) + " of token '" + name + "' is out of range");
        }
        max_id = std::max(max_id, id);
        return static_cast<std::int32_t>(id);
    };

    std::vector<std::pair<std::int32_t, std::string>> entries;
    entries.reserve(vocab.size());
    for (const auto& [key, value] : vocab.items()) {
        auto id = check_id(value, key);
        if (!id) return id.error();
        auto bytes = byte_level_to_bytes(key, alphabet);
        // Special tokens such as <|endoftext|> also sit in the vocab in plain text.
        if (!bytes) bytes = key;
        id_of.emplace(*bytes, *id);
        entries.emplace_back(*id, std::move(*bytes));
    }

    struct Added {
        std::int32_t id;
        std::string content;
        bool special;
        bool normalized;
    };
    std::vector<Added> added_tokens;
    for (const json& a : added) {
        if (!a.is_object() || !a.contains("content") || !a["content"].is_string() ||
            !a.contains("id")) {
            return fail("an added token lacks \"id\" or \"content\"");
        }
        const std::string content = a["content"].get<std::string>();
        auto id = check_id(a["id"], content);
        if (!id) return id.error();
        for (const char* flag : {"single_word", "lstrip", "rstrip"}) {
            if (a.value(flag, false)) {
                return fail("added token '" + content + "' uses \"" + flag +
                            "\", which is not supported");
            }
        }
        const bool special = a.value("special", false);
        // Hugging Face's default: special tokens match raw text, others normalised text.
        const bool normalized = a.value("normalized", !special);
        added_tokens.push_back({*id, content, special, normalized});
    }

    tok->bytes_.assign(static_cast<std::size_t>(max_id + 1), std::string());
    for (auto& [id, bytes] : entries) tok->bytes_[static_cast<std::size_t>(id)] = std::move(bytes);
    for (const Added& a : added_tokens) {
        tok->bytes_[static_cast<std::size_t>(a.id)] = a.special ? std::string() : a.content;
        AddedToken t{a.content, a.id};
        if (a.normalized) {
            tok->normalized_added_.add(std::move(t));
        } else {
            tok->raw_added_.add(std::move(t));
        }
        if (a.content == "<|endoftext|>") tok->end_of_text_ = a.id;
    }

    for (int b = 0; b < 256; ++b) {
        const auto it = id_of.find(std::string(1, static_cast<char>(b)));
        if (it != id_of.end()) tok->merges_.set_byte_id(static_cast<unsigned char>(b), it->second);
    }

    std::vector<std::array<std::int32_t, 3>> merge_ids;
    merge_ids.reserve(merges.size());
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
        const json& m = merges[rank];
        std::string left_text, right_text;
        if (m.is_string()) {
            const std::string& s = m.get_ref<const std::string&>();
            const std::size_t sp = s.find(' ');
            if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
                return fail("merge " + std::to_string(rank) + " '" + s + "' is not two tokens");
            }
            left_text = s.substr(0, sp);
            right_text = s.substr(sp + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            left_text = m[0].get<std::string>();
            right_text = m[1].get<std::string>();
        } else {
            return fail("merge " + std::to_string(rank) + " has an unknown form");
        }
        auto left = byte_level_to_bytes(left_text, alphabet);
        auto right = byte_level_to_bytes(right_text, alphabet);
        if (!left || !right)
            return fail("merge " + std::to_string(rank) + ": " +
                        (left ? right.message() : left.message()));
        const auto l = id_of.find(*left);
        const auto r = id_of.find(*right);
        const auto res = id_of.find(*left + *right);
        if (l == id_of.end() || r == id_of.end() || res == id_of.end()) {
            return fail("merge " + std::to_string(rank) + " uses a token missing from the vocab");
        }
        merge_ids.push_back({l->second, r->second, res->second});
    }
    tok->merges_.build(merge_ids);

    tok::Fnv64 h;
    h.add(raw_text);
    tok->id_ = "neox-" + std::to_string(tok->bytes_.size()) + "-" + h.hex();
    return std::unique_ptr<Tokenizer>(std::move(tok));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> neox_tokenizer_from_json(std::string_view json_text,
                                                            std::string_view source_name) {
    // The parser runs without exceptions; typed access below checks types first, and the
    // try block is the backstop that keeps a malformed file from escaping as an exception.
    try {
        const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
        if (root.is_discarded()) {
            return make_error(std::string(source_name) + ": not valid JSON");
        }
        return build_neox(root, source_name, json_text);
    } catch (const std::exception& e) {
        return make_error(std::string(source_name) + ": malformed tokenizer.json: " + e.what());
    }
}

Result<std::unique_ptr<Tokenizer>> load_neox_tokenizer(const std::filesystem::path& json_file) {
    auto text = tok::read_small_file(json_file, kMaxJsonBytes);
    if (!text) return make_error("NeoX tokenizer: " + text.message());
    return neox_tokenizer_from_json(*text, json_file.string());
}

}  // namespace ravel
