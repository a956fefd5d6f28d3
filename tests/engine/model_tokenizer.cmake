# The tokenizer a model file carries or names (engine/src/tokenizer/model_tokenizer.cpp).
ravel_add_test(test_model_tokenizer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model_tokenizer.cpp
    LIBS ravel_model ravel_tokenizer LABELS unit conformance)
