// libFuzzer entry point for imported conversations: the first byte picks the format (even:
// JSON, odd: Markdown), the rest is the file. Whatever imports must export in both formats
// without failing, and each export must import again and survive a second round trip
// unchanged: JSON keeps the whole tree (ids renumbered), Markdown the branch (one carriage
// return before each line end dropped, as the importer does). That is the round trip a user
// relies on when moving conversations between machines. The store lives in a fresh directory
// under $TMPDIR (default /dev/shm when it exists). Seeds: tests/fuzz/seeds/import_conversation.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "conversation/transfer.hpp"
#include "storage/store.hpp"

namespace {

using namespace ravel::conversation;
using nlohmann::json;

ravel::storage::Store& store() {
    static std::optional<ravel::storage::Store> s = [] {
        const char* tmp = std::getenv("TMPDIR");
        std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
        if (tmp != nullptr && *tmp != '\0') base = tmp;
        const auto dir = base / ("ravel-fuzz-import-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir);
        auto opened = ravel::storage::Store::open(dir / "fuzz.db");
        if (!opened.ok()) __builtin_trap();
        return std::optional<ravel::storage::Store>(std::move(*opened));
    }();
    return *s;
}

template <typename T>
T must(ravel::Result<T> r) {
    if (!r.ok()) __builtin_trap();
    return std::move(*r);
}

// An export with its store-assigned ids replaced by positions, and the time of import dropped.
json comparable(const std::string& exported) {
    json doc = json::parse(exported);
    doc.erase("updated_ms");
    std::map<std::int64_t, std::size_t> position;
    for (auto& m : doc["messages"]) {
        position[m["id"].get<std::int64_t>()] = position.size();
        m["id"] = position.size() - 1;
        if (!m["parent"].is_null()) m["parent"] = position.at(m["parent"].get<std::int64_t>());
    }
    return doc;
}

std::string without_cr_before_lf(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
        out += text[i];
    }
    return out;
}

void json_round_trip(std::int64_t id) {
    auto& s = store();
    const std::string first = must(export_json(s, id));
    const auto copy = must(import_json(s, first));
    const std::string second = must(export_json(s, copy));
    if (comparable(first) != comparable(second)) __builtin_trap();
    (void)s.delete_conversation(copy);
}

void markdown_round_trip(std::int64_t id) {
    auto& s = store();
    const std::string first = must(export_markdown(s, id));
    const auto copy = must(import_markdown(s, first));
    const std::string second = must(export_markdown(s, copy));
    if (without_cr_before_lf(first) != second) __builtin_trap();
    (void)s.delete_conversation(copy);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto id = data[0] % 2 == 0 ? import_json(store(), text) : import_markdown(store(), text);
    if (!id.ok()) return 0;
    json_round_trip(*id);
    markdown_round_trip(*id);
    (void)store().delete_conversation(*id);
    return 0;
}
