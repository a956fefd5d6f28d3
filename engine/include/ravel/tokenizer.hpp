// Tokenizers: RWKV World (greedy longest match over a byte trie), GPT-NeoX 20B byte-level BPE
// (RWKV-4 Pile / Raven) and plain bytes; plus an incremental detokenizer for streaming output.
//
// All const member functions are thread-safe. Encoding never fails: every byte string has an
// encoding (NeoX first replaces invalid UTF-8 with U+FFFD, as a text-only tokenizer must).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"

namespace ravel {

class WeightFile;
struct ModelConfig;

enum class TokenizerKind { World, NeoX, Byte };

// "world", "neox", "byte".
std::string_view tokenizer_kind_name(TokenizerKind kind);
// Accepts the names above and a few common aliases ("rwkv", "gpt-neox", "20b", "bytes").
std::optional<TokenizerKind> parse_tokenizer_kind(std::string_view name);

// Offset of the first byte of `text` that is not part of well-formed UTF-8 (Unicode's strict
// rules: no overlongs, no surrogates, nothing above U+10FFFF); nullopt when all of it is.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

// The tokenizer a model most likely uses. A recognised metadata name (for example a GGUF
// "tokenizer.ggml.model" value) wins; otherwise the vocabulary size decides: 65536 World,
// 50277 NeoX, 256 bytes. nullopt when neither says anything; callers may always override.
std::optional<TokenizerKind> tokenizer_kind_for_vocab(std::optional<std::string_view> metadata_name,
                                                      std::int64_t vocab_size);

class Tokenizer {
  public:
    virtual ~Tokenizer() = default;

    virtual TokenizerKind kind() const = 0;
    std::string_view kind_name() const { return tokenizer_kind_name(kind()); }
    // A stable fingerprint of the vocabulary (kind, size and a hash of the token table), stored
    // with snapshots so a state is never resumed under a different tokenizer.
    virtual const std::string& id() const = 0;
    // Number of ids a model using this tokenizer has (World: 65536, NeoX: 50277, bytes: 256).
    virtual std::int32_t vocab_size() const = 0;
    // The id that ends a document, when the vocabulary has one (World 0, NeoX 0, bytes none).
    virtual std::optional<std::int32_t> end_of_text() const = 0;

    virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;
    // The bytes decoding `id` produces. Empty for ids outside [0, vocab_size()), for unused
    // ids and for control tokens such as <|endoftext|> (decoding skips them, as ChatRWKV does).
    virtual std::string_view token_bytes(std::int32_t id) const = 0;

    bool contains(std::int32_t id) const { return id >= 0 && id < vocab_size(); }
    // Concatenated token bytes (not necessarily valid UTF-8). Fails on an id outside the
    // vocabulary, naming it.
    Result<std::string> decode(std::span<const std::int32_t> ids) const;
};

// ---- Construction ----

// The World vocabulary (rwkv_vocab_v20230424.txt format: "<id> <python literal> <length>").
Result<std::unique_ptr<Tokenizer>> load_world_tokenizer(const std::filesystem::path& vocab_file);
Result<std::unique_ptr<Tokenizer>> world_tokenizer_from_vocab_text(std::string_view text,
                                                                   std::string_view source_name);
// From a token table (index = id), e.g. one embedded in a model file. Every single byte must be
// a token so that any input can be encoded.
Result<std::unique_ptr<Tokenizer>> world_tokenizer_from_tokens(std::vector<std::string> tokens);

// A Hugging Face tokenizer.json holding a byte-level BPE model (20B_tokenizer.json).
Result<std::unique_ptr<Tokenizer>> load_neox_tokenizer(const std::filesystem::path& json_file);
Result<std::unique_ptr<Tokenizer>> neox_tokenizer_from_json(std::string_view json_text,
                                                            std::string_view source_name);

// id = byte value, vocabulary 256, no special tokens (rwkv.cpp's tiny test models).
std::unique_ptr<Tokenizer> make_byte_tokenizer();

// ---- Finding tokenizer files ----

// "rwkv_vocab_v20230424.txt", "20B_tokenizer.json"; empty for bytes (no file needed).
std::string_view tokenizer_file_name(TokenizerKind kind);

struct TokenizerSearch {
    // When set, only this is tried: a file, or a directory holding the standard file name.
    std::filesystem::path explicit_path;
    // When set, the directory of the model file is searched first.
    std::filesystem::path model_file;
    // Searched in order after the model's directory.
    std::vector<std::filesystem::path> dirs;
};

// The conventional search list: $RAVEL_VOCAB_DIR, then ../shared/data/tokenizers relative to the
// current directory, then <executable_dir>/../share/ravel/tokenizers (when executable_dir is set).
std::vector<std::filesystem::path> default_tokenizer_dirs(
    const std::filesystem::path& executable_dir);

// The file for `kind`, or an error naming the missing file and every place looked in.
Result<std::filesystem::path> find_tokenizer_file(TokenizerKind kind,
                                                  const TokenizerSearch& search);
Result<std::unique_ptr<Tokenizer>> load_tokenizer(TokenizerKind kind,
                                                  const TokenizerSearch& search);

// The tokenizer a model runs with. The kind: `kind` when given (a user's choice), else the
// file's tokenizer.ravel.kind, else its tokenizer.ggml.model name or vocabulary size
// (tokenizer_kind_for_vocab). The vocabulary: the one embedded in the file
// (tokenizer.ravel.vocab_file, written by `ravel-cli convert` and derived from llama.cpp's World
// files) when it is of that kind and `search` names no explicit path; otherwise the file found
// by `search` (its model_file defaults to the weight file's path). Errors name what is missing,
// and a tokenizer with more ids than the model (config.n_vocab) is refused.
Result<std::unique_ptr<Tokenizer>> tokenizer_for_model(const WeightFile& file,
                                                       const ModelConfig& config,
                                                       const TokenizerSearch& search,
                                                       std::optional<TokenizerKind> kind = {});

// ---- Streaming detokenization ----

// Turns a stream of token ids into text one token at a time. Each call returns only complete,
// valid UTF-8: a multi-byte character split across tokens is held back until its last byte
// arrives, and bytes that can never form a valid character come out as U+FFFD.
// The tokenizer must outlive the decoder.
class StreamDecoder {
  public:
    explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

    // Text completed by this token (possibly empty). Ids outside the vocabulary add nothing.
    std::string push(std::int32_t id);
    // The same for raw bytes.
    std::string push_bytes(std::string_view bytes);
    // End of stream: an unfinished character becomes U+FFFD. The decoder is empty afterwards.
    std::string flush();
    void reset() { pending_.clear(); }
    // Bytes held back waiting for the rest of a character (at most 3).
    std::size_t pending_bytes() const { return pending_.size(); }

  private:
    const Tokenizer* tokenizer_;
    std::string pending_;
};

}  // namespace ravel
