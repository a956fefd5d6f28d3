# `ravel-cli chat` end to end: runs the built executable with scripted stdin and --prompt/--json.
ravel_add_test(test_cli_chat
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli_chat.cpp
    LIBS Qt6::Core
    LABELS unit)
if(TARGET test_cli_chat)
    set_target_properties(test_cli_chat PROPERTIES AUTOMOC ON)
    add_dependencies(test_cli_chat ravel-cli)
    target_compile_definitions(test_cli_chat PRIVATE RAVEL_CLI_PATH="$<TARGET_FILE:ravel-cli>")
endif()
