# The forward pass of every version against ChatRWKV's reference logits and states.
ravel_add_test(test_conformance SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_conformance.cpp
    LIBS ravel_model LABELS conformance)
