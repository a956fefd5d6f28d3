# Resume records (engine/src/snapshot): round trip, hostile blobs, fingerprints.
find_package(PkgConfig REQUIRED)
pkg_check_modules(TEST_XXHASH REQUIRED IMPORTED_TARGET libxxhash)
ravel_add_test(test_resume_record
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_resume_record.cpp
    LIBS ravel_snapshot PkgConfig::TEST_XXHASH
    LABELS unit conformance)
set_target_properties(test_resume_record PROPERTIES AUTOMOC ON)
