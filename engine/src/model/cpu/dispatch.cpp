#include <cstdlib>
#include <string_view>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "model/cpu/kernels.hpp"

namespace ravel::detail::cpu {

namespace avx512vnni {
const KernelTable& table();
}
namespace avx512 {
const KernelTable& table();
}
namespace avx2vnni {
const KernelTable& table();
}
namespace avx2 {
const KernelTable& table();
}
namespace generic {
const KernelTable& table();
}

#if defined(__x86_64__)
namespace {
// F16C and AVX-VNNI straight from CPUID: clang's __builtin_cpu_supports does not know them.
// (Their register state is AVX's, which __builtin_cpu_supports("avx2") has checked the OS saves.)
bool cpuid_bit(unsigned leaf, unsigned subleaf, int reg, unsigned bit) {
    unsigned r[4] = {0, 0, 0, 0};
    if (__get_cpuid_max(0, nullptr) < leaf) return false;
    __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
    return (r[reg] >> bit & 1u) != 0;
}
constexpr int kEax = 0, kEcx = 2;
}  // namespace
#endif

bool cpu_supports(Isa isa) {
#if defined(__x86_64__)
    switch (isa) {
        case Isa::Generic:
            return true;
        case Isa::Avx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   cpuid_bit(1, 0, kEcx, 29);  // F16C
        case Isa::Avx2Vnni:
            return cpu_supports(Isa::Avx2) && cpuid_bit(7, 1, kEax, 4);  // AVX-VNNI
        case Isa::Avx512:
            return cpu_supports(Isa::Avx2) && __builtin_cpu_supports("avx512f") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
        case Isa::Avx512Vnni:
            return cpu_supports(Isa::Avx512) && __builtin_cpu_supports("avx512vnni");
    }
    return false;
#else
    return isa == Isa::Generic;
#endif
}

const KernelTable& kernels_for(Isa isa) {
    switch (isa) {
        case Isa::Avx512Vnni:
            return avx512vnni::table();
        case Isa::Avx512:
            return avx512::table();
        case Isa::Avx2Vnni:
            return avx2vnni::table();
        case Isa::Avx2:
            return avx2::table();
        case Isa::Generic:
            break;
    }
    return generic::table();
}

const KernelTable& kernels() {
    static const KernelTable& best = []() -> const KernelTable& {
        Isa isa = cpu_supports(Isa::Avx512Vnni) ? Isa::Avx512Vnni
                  : cpu_supports(Isa::Avx512)   ? Isa::Avx512
                  : cpu_supports(Isa::Avx2Vnni) ? Isa::Avx2Vnni
                  : cpu_supports(Isa::Avx2)     ? Isa::Avx2
                                                : Isa::Generic;
        // An environment override may only lower the choice, never pick an unsupported set.
        if (const char* env = std::getenv("RAVEL_CPU_ISA")) {
            const std::string_view want = env;
            if (want == "generic") isa = Isa::Generic;
            if (want == "avx2" && cpu_supports(Isa::Avx2)) isa = Isa::Avx2;
            if (want == "avx2vnni" && cpu_supports(Isa::Avx2Vnni)) isa = Isa::Avx2Vnni;
            if (want == "avx512" && isa == Isa::Avx512Vnni) isa = Isa::Avx512;
        }
        return kernels_for(isa);
    }();
    return best;
}

}  // namespace ravel::detail::cpu
