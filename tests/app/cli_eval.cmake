# `ravel-cli info`, `eval` and `bench` end to end, against the reference data.
ravel_add_test(test_cli_eval SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli_eval.cpp
    LIBS Qt6::Core LABELS conformance)
if(TARGET test_cli_eval)
    add_dependencies(test_cli_eval ravel-cli)
    target_compile_definitions(test_cli_eval PRIVATE RAVEL_CLI_PATH="$<TARGET_FILE:ravel-cli>")
endif()
