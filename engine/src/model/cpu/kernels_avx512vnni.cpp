// AVX-512 with VNNI: the AVX-512 kernels compiled again with -mavx512vnni, so the decode
// kernels' integer dot products use vpdpbusd. Only called when the CPU reports VNNI.
#define RAVEL_AVX512_NS avx512vnni
#include "model/cpu/kernels_avx512.cpp"
