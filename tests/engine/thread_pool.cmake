# The CPU thread pool's static and on-demand splits.
ravel_add_test(test_thread_pool SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_thread_pool.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_thread_pool PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)

# The default thread count: physical cores from the topology files, the affinity mask.
ravel_add_test(test_cpu_topology SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cpu_topology.cpp
    LIBS ravel_model LABELS unit)
target_include_directories(test_cpu_topology PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)

# The pool's suite again under ThreadSanitizer, built from the pool's own sources: its region
# hand-off is lock-free, and TSan checks every run's orderings against the memory model. Not in
# builds that already sanitize (TSan can't be combined with ASan). The tests that assert timing
# (a slow thread's grains taken by the other, context switches on one CPU) stay out: TSan slows
# the threads unevenly.
if(NOT RAVEL_SANITIZE AND NOT RAVEL_BUILD_FUZZERS AND NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize"
   AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    ravel_add_test(test_thread_pool_tsan
        SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_thread_pool.cpp
                ${CMAKE_SOURCE_DIR}/engine/src/model/cpu/thread_pool.cpp
                ${CMAKE_SOURCE_DIR}/engine/src/model/cpu/cpu_topology.cpp
        LABELS unit
        # Qt Test runs only the functions named.
        ARGS every_index_once more_grains_than_a_share_counts shares_of_threads_left_out
             region_numbers dynamic_regions_repeat)
    target_include_directories(test_thread_pool_tsan PRIVATE ${CMAKE_SOURCE_DIR}/engine/src
                                                             ${CMAKE_SOURCE_DIR}/engine/include)
    target_compile_options(test_thread_pool_tsan PRIVATE -fsanitize=thread -O1 -g)
    target_link_options(test_thread_pool_tsan PRIVATE -fsanitize=thread)
    set_tests_properties(test_thread_pool_tsan PROPERTIES ENVIRONMENT
        "TSAN_OPTIONS=halt_on_error=1:suppressions=${CMAKE_CURRENT_LIST_DIR}/tsan_qt.supp")
endif()
