#include <cstdlib>
#include <string_view>

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

bool cpu_supports(Isa isa) {
#if defined(__x86_64__)
    switch (isa) {
        case Isa::Generic:
            return true;
        case Isa::Avx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("f16c");
        case Isa::Avx2Vnni:
            return cpu_supports(Isa::Avx2) && __builtin_cpu_supports("avxvnni");
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
