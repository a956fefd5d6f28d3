// Runs a fuzz target's entry point once on each file named (directories are walked), so the
// seeds and any crash inputs added to tests/fuzz/seeds stay regression tests in every build,
// without clang or libFuzzer. A path that does not exist is reported and skipped (the
// reference data may be absent; with no input at all the test is skipped); a failed check in the
// target traps and fails the test.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

constexpr int kSkipped = 77;  // ctest's SKIP_RETURN_CODE: no input found

bool replay(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "cannot read %s\n", file.c_str());
        return false;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    int replayed = 0;
    bool ok = true;
    for (int i = 1; i < argc; ++i) {
        const fs::path root = argv[i];
        std::error_code ec;
        if (!fs::exists(root, ec)) {
            std::printf("skipped %s: not found\n", root.c_str());
            continue;
        }
        if (!fs::is_directory(root, ec)) {
            ok = replay(root) && ok;
            ++replayed;
            continue;
        }
        std::vector<fs::path> files;
        for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
            if (entry.is_regular_file()) files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            ok = replay(file) && ok;
            ++replayed;
        }
    }
    std::printf("replayed %d inputs\n", replayed);
    if (replayed == 0) return kSkipped;
    return ok ? 0 : 1;
}
