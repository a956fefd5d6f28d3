# The forward pass on several threads against one thread, every version and mode.
ravel_add_test(test_threaded_forward SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_threaded_forward.cpp
    LIBS ravel_model LABELS unit)
