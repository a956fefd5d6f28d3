// States and snapshot blobs of a MiB and more get 2 MiB-aligned memory of their own, marked for
// huge pages; smaller ones come from the heap. A state keeps its value semantics either way.
#include <QtTest>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "proc_smaps.hpp"
#include "ravel/large_allocator.hpp"
#include "ravel/resume_record.hpp"
#include "ravel/state.hpp"

using namespace ravel;

namespace {

constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;

std::uintptr_t address(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p);
}

// RWKV-7 at 12 x 768 (a 0.1B model's shape): a state of 2.4 MB.
ModelConfig v7_small() {
    ModelConfig c;
    c.arch = Arch::V7;
    c.n_layer = 12;
    c.n_embd = 768;
    c.n_head = 12;
    c.head_size = 64;
    c.n_vocab = 65536;
    c.dim_ffn = 3072;
    c.lora_w = c.lora_a = 64;
    c.lora_v = 32;
    c.lora_g = 128;
    return c;
}

// A tiny model's state (a few KB).
ModelConfig v7_tiny() {
    ModelConfig c = v7_small();
    c.n_layer = 2;
    c.n_embd = 64;
    c.n_head = 1;
    c.dim_ffn = 256;
    return c;
}

}  // namespace

class LargeAllocatorTest : public QObject {
    Q_OBJECT

  private slots:
    void large_allocations_are_huge_page_aligned() {
        const std::size_t bytes = (std::size_t{5} << 20) + 12345;
        auto* p = static_cast<unsigned char*>(allocate_large(bytes));
        QVERIFY(p != nullptr);
        QCOMPARE(address(p) % kHugePage, std::uintptr_t{0});
        std::memset(p, 0x5a, bytes);  // all of it is writable
        QCOMPARE(p[bytes - 1], static_cast<unsigned char>(0x5a));
        free_large(p, bytes);
    }

    void large_allocations_ask_for_huge_pages() {
        const std::string mode = ravel::test::thp_mode();
        if (mode.empty() || mode == "never") QSKIP("transparent huge pages are off on this kernel");
        const std::size_t bytes = std::size_t{4} << 20;
        auto* p = static_cast<unsigned char*>(allocate_large(bytes));
        p[0] = 1;
        const auto eligible = ravel::test::smaps_number(p, "THPeligible:");
        free_large(p, bytes);
        if (eligible < 0) QSKIP("this kernel's smaps has no THPeligible field");
        QCOMPARE(eligible, 1);
    }

    void small_allocations_come_from_the_heap() {
        for (std::size_t bytes : {std::size_t{1}, std::size_t{1000}, kLargeAllocationBytes - 1}) {
            auto* p = static_cast<unsigned char*>(allocate_large(bytes));
            QVERIFY(p != nullptr);
            QCOMPARE(address(p) % 64, std::uintptr_t{0});
            std::memset(p, 1, bytes);
            free_large(p, bytes);
        }
        // Heap blocks are not each a 2 MiB mapping: two in a row sit closer than that.
        auto* a = static_cast<char*>(allocate_large(256));
        auto* b = static_cast<char*>(allocate_large(256));
        const auto gap =
            address(a) > address(b) ? address(a) - address(b) : address(b) - address(a);
        QVERIFY(gap < kHugePage);
        free_large(a, 256);
        free_large(b, 256);
    }

    void a_large_state_lives_in_its_own_huge_page_mapping() {
        State s(v7_small());
        QVERIFY(s.values().size_bytes() >= kLargeAllocationBytes);
        QCOMPARE(address(s.values().data()) % kHugePage, std::uintptr_t{0});
        State tiny(v7_tiny());
        QVERIFY(tiny.values().size_bytes() < kLargeAllocationBytes);
        QVERIFY(tiny.values().data() != nullptr);
    }

    void states_keep_value_semantics() {
        State a(v7_small());
        a.values()[7] = 1.5f;
        State b = a;  // a fork is a copy
        QVERIFY(b.values().data() != a.values().data());
        QVERIFY(b == a);
        b.values()[7] = 2.5f;
        QVERIFY(!(b == a));
        QCOMPARE(a.values()[7], 1.5f);
        const float* storage = b.values().data();
        State c = std::move(b);
        QCOMPARE(c.values().data(), storage);  // moved, not copied
        QCOMPARE(c.values()[7], 2.5f);
        a = c;
        QVERIFY(a == c);
        a.reset();
        QCOMPARE(a.values()[7], 0.0f);
    }

    void a_large_resume_blob_is_huge_page_aligned() {
        ResumeRecord r;
        r.state = State(v7_small());
        r.logits.assign(65536, 0.25f);
        r.tokenizer_id = "world";
        const ResumeBlob blob = encode_resume_record(r);
        QVERIFY(blob.size() > r.state.values().size_bytes());
        QCOMPARE(address(blob.data()) % kHugePage, std::uintptr_t{0});
        auto back = decode_resume_record(blob);
        QVERIFY(back.ok());
        QVERIFY(back->state == r.state);
    }
};

QTEST_GUILESS_MAIN(LargeAllocatorTest)
#include "test_large_allocator.moc"
