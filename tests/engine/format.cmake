# Model-file readers (engine/src/format): .pth zip + restricted pickle, .safetensors.
ravel_add_test(test_format SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_format.cpp
    LIBS ravel_format LABELS unit)
set_target_properties(test_format PROPERTIES AUTOMOC ON)

# libFuzzer entry point for WeightFile::open; clang only, off unless asked for.
option(RAVEL_BUILD_FUZZERS "Build libFuzzer targets (needs clang)" OFF)
if(RAVEL_BUILD_FUZZERS AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_executable(fuzz_weight_file ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_weight_file.cpp)
    target_link_libraries(fuzz_weight_file PRIVATE ravel_format)
    target_compile_options(fuzz_weight_file PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz_weight_file PRIVATE -fsanitize=fuzzer,address,undefined)
endif()
