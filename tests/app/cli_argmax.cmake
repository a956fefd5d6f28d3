# The bench's greedy pick (app/cli/argmax.cpp).
ravel_add_test(test_cli_argmax SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli_argmax.cpp
    LIBS ravel_cli LABELS unit)
