#include <bit>

#include "ravel/sampler.hpp"

namespace ravel {

namespace {
// splitmix64 spreads one 64-bit seed over the four state words, as the xoshiro authors advise,
// so nearby seeds give unrelated streams and seed 0 is usable.
std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
}  // namespace

Xoshiro256::Xoshiro256(std::uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
}

std::uint64_t Xoshiro256::next() {
    const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
}

double Xoshiro256::next_double() {
    // 53 bits fill a double's mantissa exactly, so every value is representable and < 1.
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

bool Xoshiro256::set_state(const std::array<std::uint64_t, 4>& s) {
    if (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0) return false;
    s_ = s;
    return true;
}

}  // namespace ravel
