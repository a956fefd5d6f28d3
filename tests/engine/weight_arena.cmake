# Huge-page-backed storage for a model's weight matrices.
ravel_add_test(test_weight_arena SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_weight_arena.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_weight_arena PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
