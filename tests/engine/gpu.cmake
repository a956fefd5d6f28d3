# The CUDA backend against the CPU path (label gpu). Without a GPU these skip with
# "no CUDA device: <reason>"; test_gpu_forward also checks the CPU fall-back in every build.
ravel_add_test(test_gpu_forward SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gpu_forward.cpp
    LIBS ravel_model LABELS gpu)
if(TARGET ravel_kernels)
    # Each kernel against a CPU reference with stated tolerances; RAVEL_GPU_BENCH=1 also times
    # them (micro-benchmark mode).
    ravel_add_test(test_gpu_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gpu_kernels.cpp
        LIBS ravel_model ravel_kernels LABELS gpu)
    get_target_property(kernels_test_type test_gpu_kernels TYPE)
    if(kernels_test_type STREQUAL "EXECUTABLE")
        target_include_directories(test_gpu_kernels PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
    endif()
endif()
