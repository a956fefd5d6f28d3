# The interleaved q8_0 / q4_0 layout of the CPU decode kernels.
ravel_add_test(test_interleave SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_interleave.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_interleave PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
