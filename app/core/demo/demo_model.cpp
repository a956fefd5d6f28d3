#include "demo/demo_model.hpp"

#include <system_error>

namespace ravel::demo {

namespace {

bool is_file(const std::filesystem::path& p) {
    std::error_code ec;
    return !p.empty() && std::filesystem::is_regular_file(p, ec);
}

}  // namespace

std::filesystem::path executable_dir() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path() : exe.parent_path();
}

std::filesystem::path find_demo_model(const std::filesystem::path& exe_dir) {
    const auto dir = exe_dir.empty() ? executable_dir() : exe_dir;
    if (!dir.empty()) {
        const auto installed = dir.parent_path() / "share" / "ravel" / "models" / kDemoModelFile;
        if (is_file(installed)) return installed;
    }
#ifdef RAVEL_DEMO_MODEL_SOURCE_DIR
    // A build-tree run: the model is committed in the source tree's resources/models.
    const auto source = std::filesystem::path(RAVEL_DEMO_MODEL_SOURCE_DIR) / kDemoModelFile;
    if (is_file(source)) return source;
#endif
    return {};
}

bool is_demo_model(const std::filesystem::path& path) {
    return path.filename() == kDemoModelFile;
}

}  // namespace ravel::demo
