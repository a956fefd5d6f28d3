// Finding tokenizer files at run time: an explicit path, next to the model, then a search list.
#include <cstdlib>
#include <system_error>

#include "ravel/tokenizer.hpp"

namespace ravel {

namespace fs = std::filesystem;

std::string_view tokenizer_file_name(TokenizerKind kind) {
    switch (kind) {
        case TokenizerKind::World:
            return "rwkv_vocab_v20230424.txt";
        case TokenizerKind::NeoX:
            return "20B_tokenizer.json";
        case TokenizerKind::Byte:
            return "";
    }
    return "";
}

std::vector<fs::path> default_tokenizer_dirs(const fs::path& executable_dir) {
    std::vector<fs::path> dirs;
    if (const char* env = std::getenv("RAVEL_VOCAB_DIR"); env != nullptr && *env != '\0') {
        dirs.emplace_back(env);
    }
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    if (!ec) dirs.push_back(cwd / ".." / "shared" / "data" / "tokenizers");
    if (!executable_dir.empty()) {
        dirs.push_back(executable_dir / ".." / "share" / "ravel" / "tokenizers");
    }
    return dirs;
}

namespace {

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

}  // namespace

Result<fs::path> find_tokenizer_file(TokenizerKind kind, const TokenizerSearch& search) {
    const std::string name(tokenizer_file_name(kind));
    const std::string what = std::string(tokenizer_kind_name(kind)) + " tokenizer file";
    if (name.empty()) return make_error("the byte tokenizer needs no file");

    if (!search.explicit_path.empty()) {
        std::error_code ec;
        if (fs::is_directory(search.explicit_path, ec)) {
            const fs::path candidate = search.explicit_path / name;
            if (is_file(candidate)) return candidate;
            return make_error(what + " '" + name + "' not found in directory " +
                              search.explicit_path.string());
        }
        if (is_file(search.explicit_path)) return search.explicit_path;
        return make_error(what + " not found: " + search.explicit_path.string() +
                          " does not exist or is not a regular file");
    }

    std::vector<fs::path> dirs;
    if (!search.model_file.empty()) {
        const fs::path parent = search.model_file.parent_path();
        dirs.push_back(parent.empty() ? fs::path(".") : parent);
    }
    dirs.insert(dirs.end(), search.dirs.begin(), search.dirs.end());
    std::string looked;
    for (const fs::path& dir : dirs) {
        const fs::path candidate = dir / name;
        if (is_file(candidate)) return candidate;
        looked += "\n  " + candidate.lexically_normal().string();
    }
    if (dirs.empty()) return make_error(what + " '" + name + "' not found: no place to look");
    return make_error(what + " '" + name + "' not found; looked in:" + looked);
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer(TokenizerKind kind,
                                                  const TokenizerSearch& search) {
    if (kind == TokenizerKind::Byte) return make_byte_tokenizer();
    auto path = find_tokenizer_file(kind, search);
    if (!path) return path.error();
    return kind == TokenizerKind::World ? load_world_tokenizer(*path) : load_neox_tokenizer(*path);
}

}  // namespace ravel
