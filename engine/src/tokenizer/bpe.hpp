// Byte-pair encoding of one pre-tokenized word over raw bytes: start from single-byte tokens and
// repeatedly apply the lowest-ranked merge (leftmost first on ties), as Hugging Face's BPE does.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ravel::tok {

class BpeMerges {
  public:
    struct Merge {
        std::int32_t rank = -1;  // -1: no such merge
        std::int32_t result = -1;
    };

    BpeMerges() { byte_ids_.fill(-1); }

    void set_byte_id(unsigned char b, std::int32_t id) { byte_ids_[b] = id; }
    std::int32_t byte_id(unsigned char b) const { return byte_ids_[b]; }

    // Builds the lookup table; call once with every merge before encoding.
    void build(const std::vector<std::array<std::int32_t, 3>>& merges);  // {left, right, result}

    Merge find(std::int32_t left, std::int32_t right) const {
        const std::uint64_t key = pack(left, right);
        for (std::size_t i = slot(key);; i = (i + 1) & mask_) {
            const Entry& e = table_[i];
            if (e.key == key) return {e.rank, e.result};
            if (e.key == kEmpty) return {};
        }
    }

    // Appends the ids of `word`. Bytes without a single-byte token are dropped (Hugging Face's
    // BPE without an unknown token does the same); the NeoX vocabulary lacks only bytes that
    // never occur in valid UTF-8.
    void encode_word(std::string_view word, std::vector<std::int32_t>& out) const;

  private:
    static constexpr std::uint64_t kEmpty = ~0ULL;
    struct Entry {
        std::uint64_t key = kEmpty;
        std::int32_t rank = -1;
        std::int32_t result = -1;
    };

    static std::uint64_t pack(std::int32_t a, std::int32_t b) {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
               static_cast<std::uint32_t>(b);
    }
    std::size_t slot(std::uint64_t key) const {
        return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_) & mask_;
    }

    std::array<std::int32_t, 256> byte_ids_{};
    std::vector<Entry> table_{Entry{}};
    std::size_t mask_ = 0;
    int shift_ = 63;
};

}  // namespace ravel::tok
