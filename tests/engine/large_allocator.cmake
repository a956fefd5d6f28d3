# Memory for states and snapshot blobs: large ones in their own huge-page mappings.
ravel_add_test(test_large_allocator SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_large_allocator.cpp
    LIBS ravel_snapshot LABELS unit)
