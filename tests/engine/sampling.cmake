# Sampler, chat templates and the generator (engine/src/sampling).
ravel_add_test(test_sampler SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampler.cpp
    LIBS ravel_sampling LABELS unit)
ravel_add_test(test_chat_template SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_chat_template.cpp
    LIBS ravel_sampling LABELS unit)
# Uses the tiny byte-level model from the shared data; skips when it is absent.
ravel_add_test(test_generator SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_generator.cpp
    LIBS ravel_sampling LABELS unit)
if(TARGET test_sampler)
    target_include_directories(test_sampler PRIVATE ${CMAKE_SOURCE_DIR}/engine/src)
endif()
foreach(t test_sampler test_chat_template test_generator)
    if(TARGET ${t})
        set_target_properties(${t} PROPERTIES AUTOMOC ON)
    endif()
endforeach()
