# Tokenizers (engine/src/tokenizer). The test computes NFC itself with utf8proc to build
# normalised round-trip inputs, so it links utf8proc directly as well.
find_package(PkgConfig REQUIRED)
pkg_check_modules(RAVEL_TEST_UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
ravel_add_test(test_tokenizer SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.cpp
    LIBS ravel_tokenizer PkgConfig::RAVEL_TEST_UTF8PROC LABELS unit conformance)
if(TARGET test_tokenizer)
    set_target_properties(test_tokenizer PROPERTIES AUTOMOC ON)
endif()

# Throughput benchmark (not a test): bench_tokenizer [tokenizer dir] [MiB]
add_executable(bench_tokenizer ${CMAKE_CURRENT_LIST_DIR}/bench_tokenizer.cpp)
target_link_libraries(bench_tokenizer PRIVATE ravel_tokenizer)
ravel_warnings(bench_tokenizer)
