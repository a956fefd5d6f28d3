#include "tokenizer/bpe.hpp"

#include <algorithm>
#include <functional>

namespace ravel::tok {

void BpeMerges::build(const std::vector<std::array<std::int32_t, 3>>& merges) {
    std::size_t capacity = 16;
    int bits = 4;
    while (capacity < merges.size() * 2) {
        capacity *= 2;
        ++bits;
    }
    table_.assign(capacity, Entry{});
    mask_ = capacity - 1;
    shift_ = 64 - bits;
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& m = merges[rank];
        const std::uint64_t key = pack(m[0], m[1]);
        std::size_t i = slot(key);
        while (table_[i].key != kEmpty && table_[i].key != key) i = (i + 1) & mask_;
        if (table_[i].key == key) continue;  // a repeated merge keeps its first (lower) rank
        table_[i] = Entry{key, static_cast<std::int32_t>(rank), m[2]};
    }
}

void BpeMerges::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
    struct Symbol {
        std::int32_t id;
        std::int32_t prev;  // -1: none
        std::int32_t next;  // -1: none
    };
    thread_local std::vector<Symbol> sym;
    sym.clear();
    for (char c : word) {
        const std::int32_t id = byte_ids_[static_cast<unsigned char>(c)];
        if (id < 0) continue;
        const auto n = static_cast<std::int32_t>(sym.size());
        sym.push_back({id, n - 1, -1});
        if (n > 0) sym[static_cast<std::size_t>(n - 1)].next = n;
    }
    if (sym.size() <= 1) {
        if (!sym.empty()) out.push_back(sym[0].id);
        return;
    }

    // Candidate merges ordered by (rank, position). Entries go stale when a neighbour merges;
    // a popped entry is used only if both symbols still carry the ids it was made for (a
    // symbol's id only ever grows into a longer token, so equal ids mean an unchanged pair).
    struct Candidate {
        std::int32_t rank, pos, left, right;
        bool operator>(const Candidate& o) const {
            return rank != o.rank ? rank > o.rank : pos > o.pos;
        }
    };
    thread_local std::vector<Candidate> heap;  // a min-heap through std::greater
    heap.clear();
    const std::greater<> later;
    auto consider = [&](std::int32_t pos) {
        const Symbol& a = sym[static_cast<std::size_t>(pos)];
        if (a.next < 0) return;
        const std::int32_t right = sym[static_cast<std::size_t>(a.next)].id;
        const Merge m = find(a.id, right);
        if (m.rank >= 0) {
            heap.push_back({m.rank, pos, a.id, right});
            std::push_heap(heap.begin(), heap.end(), later);
        }
    };
    for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(sym.size()); ++i) consider(i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later);
        const Candidate c = heap.back();
        heap.pop_back();
        Symbol& a = sym[static_cast<std::size_t>(c.pos)];
        if (a.id != c.left || a.next < 0) continue;
        Symbol& b = sym[static_cast<std::size_t>(a.next)];
        if (b.id != c.right) continue;
        a.id = find(c.left, c.right).result;
        a.next = b.next;
        if (b.next >= 0) sym[static_cast<std::size_t>(b.next)].prev = c.pos;
        b.id = -1;  // dead
        if (a.prev >= 0) consider(a.prev);
        consider(c.pos);
    }
    for (std::int32_t i = 0; i >= 0; i = sym[static_cast<std::size_t>(i)].next) {
        out.push_back(sym[static_cast<std::size_t>(i)].id);
    }
}

}  // namespace ravel::tok
