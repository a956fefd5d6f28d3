# The forward pass of every version against ChatRWKV's reference logits and states.
ravel_add_test(test_conformance SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_conformance.cpp
    LIBS ravel_model LABELS conformance)
# The same suite on the lower instruction-set paths (the environment can only lower the choice).
if(TARGET test_conformance)
    foreach(isa avx2vnni avx2 generic)
        add_test(NAME test_conformance_${isa} COMMAND test_conformance)
        set_tests_properties(test_conformance_${isa} PROPERTIES LABELS conformance TIMEOUT 600
                             ENVIRONMENT "RAVEL_CPU_ISA=${isa}")
    endforeach()
endif()
