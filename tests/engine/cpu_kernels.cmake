# Fast CPU kernels against the scalar reference, per instruction set and weight type.
ravel_add_test(test_cpu_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cpu_kernels.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_cpu_kernels PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)

# Kernel throughput benchmark (not a test): bench_cpu_kernels --type f16 --tokens 128 ...
add_executable(bench_cpu_kernels ${CMAKE_CURRENT_LIST_DIR}/bench_cpu_kernels.cpp)
target_link_libraries(bench_cpu_kernels PRIVATE ravel_model)
target_include_directories(bench_cpu_kernels PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
ravel_warnings(bench_cpu_kernels)
