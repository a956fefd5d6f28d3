# Fast CPU kernels against the scalar reference, per instruction set and weight type.
ravel_add_test(test_cpu_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cpu_kernels.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_cpu_kernels PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
