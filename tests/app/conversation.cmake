# Conversations through the engine (app/conversation): exact resume per RWKV version, rebuild
# after damaged snapshots, branching. Uses the byte-level tiny models of the shared data.
ravel_add_test(test_conversation
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_conversation.cpp
    LIBS ravel_conversation SQLite::SQLite3
    LABELS conformance slow)
set_target_properties(test_conversation PROPERTIES AUTOMOC ON)
