// Where the bundled demo model lives (issue 8: a small RWKV-7 that Ravel trains itself, used when
// no other model is configured). Qt-free, so `ravel-cli chat` and the desktop app share it.
#pragma once

#include <filesystem>

namespace ravel::demo {

// The file name in resources/models and in <prefix>/share/ravel/models.
inline constexpr const char* kDemoModelFile = "ravel-demo-rwkv7.pth";

// The directory of the running executable ("" when it cannot be told).
std::filesystem::path executable_dir();

// The demo model next to an installed executable (<exe>/../share/ravel/models), else in the
// source tree this binary was built from (a build-tree run); "" when neither has it.
// `exe_dir` empty: executable_dir().
std::filesystem::path find_demo_model(const std::filesystem::path& exe_dir = {});

// True when `path` names the bundled demo model (by file name: copies stay demo models).
bool is_demo_model(const std::filesystem::path& path);

}  // namespace ravel::demo
