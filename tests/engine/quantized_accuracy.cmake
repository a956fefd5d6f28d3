# Reduced-precision weights on the conformance models: KL divergence and top-1 agreement.
ravel_add_test(test_quantized_accuracy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_quantized_accuracy.cpp
    LIBS ravel_model LABELS conformance)
