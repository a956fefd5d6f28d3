# Conversation database (app/storage): schema, migrations, trees, snapshots, crash safety.
find_package(SQLite3 REQUIRED)
ravel_add_test(test_storage
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_storage.cpp
    LIBS ravel_storage SQLite::SQLite3
    LABELS unit)
set_target_properties(test_storage PROPERTIES AUTOMOC ON)

# The crash test kills this writer with SIGKILL at random moments.
add_executable(storage_crash_writer ${CMAKE_CURRENT_SOURCE_DIR}/storage_crash_writer.cpp)
target_link_libraries(storage_crash_writer PRIVATE ravel_storage)
ravel_warnings(storage_crash_writer)
ravel_add_test(test_storage_crash
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_storage_crash.cpp
    LIBS ravel_storage
    LABELS slow)
set_target_properties(test_storage_crash PROPERTIES AUTOMOC ON)
add_dependencies(test_storage_crash storage_crash_writer)
target_compile_definitions(test_storage_crash PRIVATE
    STORAGE_CRASH_WRITER="$<TARGET_FILE:storage_crash_writer>")
