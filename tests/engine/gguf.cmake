# GGUF reading (Ravel's own and llama.cpp's rwkv6/rwkv7 dialects), writing and conversion.
ravel_add_test(test_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf.cpp
    LIBS ravel_format ravel_tokenizer ravel_snapshot LABELS unit)
# The q4_K / q5_K / q6_K decoder (engine/src/format/kquant.hpp) is internal; its reference
# values (kquant_golden.inc) sit beside the test.
target_include_directories(test_gguf PRIVATE ${CMAKE_SOURCE_DIR}/engine/src ${CMAKE_CURRENT_LIST_DIR})

# A converted model runs and matches the reference logits within its weight type's tolerance.
ravel_add_test(test_gguf_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf_model.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_gguf_model PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
