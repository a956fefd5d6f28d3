# `ravel-cli chat --db`: one process answering two prompts == two processes, the second
# resuming from the snapshot in the database.
ravel_add_test(test_chat_db
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_chat_db.cpp
    LIBS Qt6::Core
    LABELS conformance slow)
set_target_properties(test_chat_db PROPERTIES AUTOMOC ON)
add_dependencies(test_chat_db ravel-cli)
target_compile_definitions(test_chat_db PRIVATE RAVEL_CLI="$<TARGET_FILE:ravel-cli>")
