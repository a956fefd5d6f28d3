// Crash-test helper: appends messages and snapshots to a database forever. After each message's
// transaction commits it prints "<message id> <n>" and flushes, so the parent knows exactly which
// messages must survive a SIGKILL. Usage: storage_crash_writer DB START_N
#include <cstdio>
#include <cstdlib>
#include <string>

#include "crash_content.hpp"
#include "storage/store.hpp"

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    auto store = ravel::storage::Store::open(argv[1]);
    if (!store) {
        std::fprintf(stderr, "%s\n", store.message().c_str());
        return 1;
    }
    // Keeps the snapshot total small enough that eviction runs during the test too.
    if (auto r = store->set_snapshot_cap(8 << 20); !r) return 1;
    auto convs = store->list_conversations();
    if (!convs) return 1;
    std::int64_t conv = 0;
    if (convs->empty()) {
        auto c = store->create_conversation("crash test");
        if (!c) return 1;
        conv = c->id;
    } else {
        conv = convs->front().id;
    }
    auto last = store->latest_message(conv);
    if (!last) return 1;
    std::optional<std::int64_t> parent;
    if (*last) parent = (*last)->id;
    for (std::int64_t n = std::atoll(argv[2]);; ++n) {
        ravel::storage::NewMessage m;
        m.conversation_id = conv;
        m.parent_id = parent;
        m.role = n % 2 ? ravel::storage::Role::Assistant : ravel::storage::Role::User;
        m.text = ravel::test::crash_message_text(n);
        m.tokens = ravel::test::crash_message_tokens(n);
        auto added = store->add_message(m);
        if (!added) {
            std::fprintf(stderr, "%s\n", added.message().c_str());
            return 1;
        }
        std::printf("%lld %lld\n", static_cast<long long>(added->id), static_cast<long long>(n));
        std::fflush(stdout);
        parent = added->id;
        const auto blob = ravel::test::crash_snapshot_blob(n);
        if (auto r = store->put_snapshot(added->id, blob, "0123456789abcdef0123456789abcdef"); !r) {
            std::fprintf(stderr, "%s\n", r.message().c_str());
            return 1;
        }
        std::printf("S %lld\n", static_cast<long long>(added->id));
        std::fflush(stdout);
    }
}
