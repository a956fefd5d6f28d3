# Import/export (JSON, Markdown) and state-tuning files (app/conversation).
ravel_add_test(test_conversation_transfer
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_conversation_transfer.cpp
    LIBS ravel_conversation
    LABELS unit conformance)
set_target_properties(test_conversation_transfer PROPERTIES AUTOMOC ON)
