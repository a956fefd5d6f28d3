// Plain bytes: id = byte value, 256 ids, no special tokens. This is what rwkv.cpp's tiny test
// models were trained on.
#include <array>

#include "ravel/tokenizer.hpp"

namespace ravel {

namespace {

class ByteTokenizer final : public Tokenizer {
  public:
    ByteTokenizer() {
        for (int b = 0; b < 256; ++b) bytes_[static_cast<std::size_t>(b)] = static_cast<char>(b);
    }

    TokenizerKind kind() const override { return TokenizerKind::Byte; }
    const std::string& id() const override { return id_; }
    std::int32_t vocab_size() const override { return 256; }
    std::optional<std::int32_t> end_of_text() const override { return std::nullopt; }

    std::vector<std::int32_t> encode(std::string_view text) const override {
        std::vector<std::int32_t> out(text.size());
        for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<unsigned char>(text[i]);
        return out;
    }

    std::string_view token_bytes(std::int32_t id) const override {
        if (id < 0 || id > 255) return {};
        return {bytes_.data() + id, 1};
    }

  private:
    std::array<char, 256> bytes_{};
    std::string id_ = "byte-256";
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() {
    return std::make_unique<ByteTokenizer>();
}

}  // namespace ravel
