// The weight arena: blocks are aligned, disjoint and outlive the arena; small matrices share
// 2 MiB-aligned chunks the kernel may back with huge pages; a matrix built in an arena is the
// same matrix, byte for byte, as one with a buffer of its own.
#include <QtTest>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <sanitizer/asan_interface.h>
#include <sys/mman.h>

#include "model/matrix.hpp"
#include "model/weight_arena.hpp"
#include "proc_smaps.hpp"

using ravel::detail::ArenaBlock;
using ravel::detail::WeightArena;

namespace {

constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;

std::uintptr_t address(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p);
}

// Two keep-alives own the same memory when neither orders before the other.
bool same_owner(const ArenaBlock& a, const ArenaBlock& b) {
    return !a.keep_alive.owner_before(b.keep_alive) && !b.keep_alive.owner_before(a.keep_alive);
}

int thp_eligible(const void* p) {
    return static_cast<int>(ravel::test::smaps_number(p, "THPeligible:"));
}

}  // namespace

class WeightArenaTest : public QObject {
    Q_OBJECT

  private slots:
    void small_blocks_are_aligned_disjoint_and_share_a_chunk() {
        WeightArena arena;
        std::vector<ArenaBlock> blocks;
        const std::size_t sizes[] = {1, 63, 64, 65, 4096, 1000, 300000, 7};
        for (std::size_t s : sizes) {
            auto b = arena.allocate(s);
            QVERIFY2(b.ok(), "allocation failed");
            QCOMPARE(address(b->data) % 64, std::uintptr_t{0});
            std::memset(b->data, static_cast<int>(blocks.size() + 1), s);
            blocks.push_back(*b);
        }
        // The first block starts the chunk, which is huge-page aligned.
        QCOMPARE(address(blocks[0].data) % kHugePage, std::uintptr_t{0});
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            QVERIFY(same_owner(blocks[0], blocks[i]));
            // Each block still holds its own fill: none overlaps another.
            for (std::size_t j = 0; j < sizes[i]; ++j) {
                if (blocks[i].data[j] != static_cast<std::byte>(i + 1)) {
                    QFAIL(qPrintable(QStringLiteral("block %1 byte %2 overwritten").arg(i).arg(j)));
                }
            }
        }
    }

    void a_full_chunk_starts_another() {
        WeightArena arena;
        const std::size_t quarter = WeightArena::kChunkBytes / 4;
        std::vector<ArenaBlock> blocks;
        for (int i = 0; i < 5; ++i) {
            auto b = arena.allocate(quarter);
            QVERIFY(b.ok());
            blocks.push_back(*b);
        }
        for (int i = 1; i < 4; ++i) QVERIFY(same_owner(blocks[0], blocks[static_cast<size_t>(i)]));
        QVERIFY(!same_owner(blocks[0], blocks[4]));
        QCOMPARE(address(blocks[4].data) % kHugePage, std::uintptr_t{0});
    }

    void large_blocks_get_their_own_mapping() {
        WeightArena arena;
        auto small = arena.allocate(1024);
        auto large = arena.allocate(WeightArena::kChunkBytes / 4 + 1);
        QVERIFY(small.ok() && large.ok());
        QVERIFY(!same_owner(*small, *large));
        QCOMPARE(address(large->data) % kHugePage, std::uintptr_t{0});
        // The arena's chunk is still the current one after the large request.
        auto next = arena.allocate(1024);
        QVERIFY(next.ok());
        QVERIFY(same_owner(*small, *next));
    }

    void blocks_outlive_the_arena() {
        ArenaBlock kept;
        {
            WeightArena arena;
            auto b = arena.allocate(1 << 16);
            QVERIFY(b.ok());
            kept = *b;
            for (int i = 0; i < (1 << 16); ++i) kept.data[i] = static_cast<std::byte>(i * 7);
        }
        for (int i = 0; i < (1 << 16); ++i) QCOMPARE(kept.data[i], static_cast<std::byte>(i * 7));
    }

    void bytes_past_a_block_are_poisoned_under_asan() {
#if defined(__SANITIZE_ADDRESS__)
        WeightArena arena;
        auto a = arena.allocate(1000);
        auto b = arena.allocate(64);
        auto large = arena.allocate(WeightArena::kChunkBytes / 4 + 8);
        QVERIFY(a.ok() && b.ok() && large.ok());
        QVERIFY(!__asan_address_is_poisoned(a->data + 999));
        QVERIFY(__asan_address_is_poisoned(a->data + 1000));  // the padding up to the next block
        QVERIFY(!__asan_address_is_poisoned(b->data));
        QVERIFY(__asan_address_is_poisoned(b->data + 64));  // the chunk's unused tail
        QVERIFY(__asan_address_is_poisoned(large->data + WeightArena::kChunkBytes / 4 + 8));
#else
        QSKIP("not an ASan build");
#endif
    }

    void chunks_ask_for_huge_pages() {
        const std::string mode = ravel::test::thp_mode();
        if (mode.empty() || mode == "never") QSKIP("transparent huge pages are off on this kernel");
        WeightArena arena;
        auto b = arena.allocate(4096);
        QVERIFY(b.ok());
        b->data[0] = std::byte{1};
        const int eligible = thp_eligible(b->data);
        if (eligible < 0) QSKIP("this kernel's smaps has no THPeligible field");
        QCOMPARE(eligible, 1);
    }

    void a_matrix_in_an_arena_is_the_same_matrix() {
        using ravel::DType;
        std::mt19937 rng(3);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        const int rows = 37, cols = 96;
        std::vector<float> values(static_cast<std::size_t>(rows) * cols);
        for (float& v : values) v = nd(rng);
        for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
            WeightArena arena;
            auto own = ravel::detail::make_matrix(values.data(), rows, cols, type);
            auto in_arena = ravel::detail::make_matrix(values.data(), rows, cols, type, &arena);
            QVERIFY(own.ok() && in_arena.ok());
            QCOMPARE(in_arena->bytes(), own->bytes());
            QVERIFY(in_arena->owned.size() == 0);
            QVERIFY(in_arena->borrowed != nullptr);
            QCOMPARE(std::memcmp(in_arena->data, own->data, own->bytes()), 0);
        }
    }
};

QTEST_GUILESS_MAIN(WeightArenaTest)
#include "test_weight_arena.moc"
