# The SIMD element-wise kernels (activations, norms, mixes, WKV recurrences) per instruction set
# against a double-precision reference written from the RWKV formulas.
ravel_add_test(test_elementwise_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_elementwise_kernels.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_elementwise_kernels PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
