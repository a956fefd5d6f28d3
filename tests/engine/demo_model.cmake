# The bundled demo model: engine logits vs the training program's, and held-out accuracy.
ravel_add_test(test_demo_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_demo_model.cpp
    LIBS ravel_model LABELS unit)
