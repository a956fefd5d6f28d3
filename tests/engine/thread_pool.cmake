# The CPU thread pool's static and on-demand splits.
ravel_add_test(test_thread_pool SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_thread_pool.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_thread_pool PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)

# The default thread count: physical cores from the topology files, the affinity mask.
ravel_add_test(test_cpu_topology SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cpu_topology.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_cpu_topology PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
