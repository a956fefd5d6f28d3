// Reading /proc/self/smaps in tests: how the kernel maps a given address (huge pages, madvise
// flags, resident size), for tests of memory the code under test asks the kernel for.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace ravel::test {

// The text after `field` ("VmFlags:", "FilePmdMapped:", "THPeligible:") in the entry of the
// mapping holding `p`; nullopt when there is no such mapping or field.
inline std::optional<std::string> smaps_value(const void* p, std::string_view field) {
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    bool inside = false;
    while (std::getline(smaps, line)) {
        unsigned long long begin = 0, end = 0;
        char dash = 0;
        std::istringstream head(line);
        if (head >> std::hex >> begin >> dash >> end && dash == '-') {
            inside = at >= begin && at < end;
            continue;
        }
        if (inside && line.rfind(field, 0) == 0) return line.substr(field.size());
    }
    return std::nullopt;
}

// A numeric field (sizes in kB), -1 when absent.
inline long smaps_number(const void* p, std::string_view field) {
    const auto v = smaps_value(p, field);
    return v ? std::stol(*v) : -1;
}

// The system's THP mode, e.g. "madvise"; empty where the kernel has no THP.
inline std::string thp_mode() {
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string line;
    std::getline(f, line);
    const auto open = line.find('['), close = line.find(']');
    if (open == std::string::npos || close == std::string::npos) return {};
    return line.substr(open + 1, close - open - 1);
}

}  // namespace ravel::test
