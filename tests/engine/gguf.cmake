# GGUF reading (Ravel's own and llama.cpp's rwkv6/rwkv7 dialects), writing and conversion.
ravel_add_test(test_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf.cpp
    LIBS ravel_format ravel_tokenizer LABELS unit)

# A converted model runs and matches the reference logits within its weight type's tolerance.
ravel_add_test(test_gguf_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf_model.cpp
    LIBS ravel_model LABELS unit)
