#include "chat_transfer.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "conversation/transfer.hpp"
#include "json_out.hpp"
#include "output_file.hpp"
#include "text_file.hpp"

namespace ravel::cli {

namespace {

enum class Format { Json, Markdown };

Result<Format> format_of(const Args& args, const std::string& path) {
    if (auto name = args.get("format")) {
        if (*name == "json") return Format::Json;
        if (*name == "markdown" || *name == "md") return Format::Markdown;
        return make_error("unknown --format '" + *name + "' (json, markdown)");
    }
    const auto ext = std::filesystem::path(path).extension().string();
    return ext == ".md" || ext == ".markdown" ? Format::Markdown : Format::Json;
}

Result<void> write_file(const std::string& path, const std::string& text) {
    return write_file_replacing(path, std::as_bytes(std::span(text.data(), text.size())));
}

}  // namespace

int export_conversation(storage::Store& store, const Args& args, std::ostream& out,
                        std::ostream& err) {
    constexpr long long kMaxId = std::numeric_limits<long long>::max();
    auto id = args.get_int("export", 0, 1, kMaxId);
    if (!id) {
        err << "ravel-cli chat: " << id.message() << "\n";
        return 2;
    }
    const std::string path = args.get_or("out", "");
    auto format = format_of(args, path);
    if (!format) {
        err << "ravel-cli chat: " << format.message() << "\n";
        return 2;
    }
    std::optional<std::int64_t> leaf;
    if (args.has("leaf")) {
        if (*format == Format::Json) {
            err << "ravel-cli chat: --leaf picks the branch of a Markdown export; JSON holds "
                   "every branch\n";
            return 2;
        }
        auto m = args.get_int("leaf", 0, 1, kMaxId);
        if (!m) {
            err << "ravel-cli chat: " << m.message() << "\n";
            return 2;
        }
        leaf = *m;
    }
    conversation::ExportOptions options;
    options.include_snapshots = args.flag("snapshots");
    auto text = *format == Format::Json ? conversation::export_json(store, *id, options)
                                        : conversation::export_markdown(store, *id, leaf);
    if (!text) {
        err << "ravel-cli chat: " << text.message() << "\n";
        return 1;
    }
    if (path.empty()) {
        out << *text;
        if (*format == Format::Json) out << "\n";
        return 0;
    }
    if (auto written = write_file(path, *text); !written) {
        err << "ravel-cli chat: " << written.message() << "\n";
        return 1;
    }
    return 0;
}

int import_conversation(storage::Store& store, const Args& args, std::ostream& out,
                        std::ostream& err) {
    const std::string path = args.get_or("import", "");
    auto format = format_of(args, path);
    if (!format) {
        err << "ravel-cli chat: " << format.message() << "\n";
        return 2;
    }
    auto text = read_whole_file(path, conversation::kMaxImportBytes, "--import " + path);
    if (!text) {
        err << "ravel-cli chat: " << text.message() << "\n";
        return 1;
    }
    auto id = *format == Format::Json ? conversation::import_json(store, *text)
                                      : conversation::import_markdown(store, *text);
    if (!id) {
        err << "ravel-cli chat: " << path << ": " << id.message() << "\n";
        return 1;
    }
    if (args.flag("json")) {
        out << json_text(nlohmann::json{{"conversation", *id}}) << "\n";
    } else {
        out << *id << "\n";
    }
    return 0;
}

}  // namespace ravel::cli
