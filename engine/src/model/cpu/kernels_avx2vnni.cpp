// AVX2 with AVX-VNNI: the AVX2 kernels compiled again with -mavxvnni, so the interleaved
// q8_0 / q4_0 kernels use the 256-bit vpdpbusd. Only called when the CPU reports AVX-VNNI.
#define RAVEL_AVX2_NS avx2vnni
#include "model/cpu/kernels_avx2.cpp"
