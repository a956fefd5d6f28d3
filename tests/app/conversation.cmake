# Conversations through the engine (app/conversation): exact resume per RWKV version, rebuild
# after damaged snapshots, branching. Uses the byte-level tiny models of the shared data.
ravel_add_test(test_conversation
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_conversation.cpp
    LIBS ravel_conversation SQLite::SQLite3
    LABELS conformance slow)
set_target_properties(test_conversation PROPERTIES AUTOMOC ON)

# Benchmark (not a test): resume from a snapshot vs re-processing a transcript.
#   bench_resume [v7:12x768[:65536]] [2000]
add_executable(bench_resume ${CMAKE_CURRENT_LIST_DIR}/bench_resume.cpp)
target_link_libraries(bench_resume PRIVATE ravel_storage ravel_snapshot ravel_sampling)
ravel_warnings(bench_resume)
