# The real QML driven offscreen, with the real engine on a shared model and a real database.
if(TARGET ravel_ui)
    ravel_add_test(test_gui
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_gui.cpp
        LIBS ravel_ui
        LABELS gui
        TIMEOUT 300)
    if(TARGET test_gui)
        set_target_properties(test_gui PROPERTIES AUTOMOC ON)
        set_tests_properties(test_gui PROPERTIES
            ENVIRONMENT "QT_QPA_PLATFORM=offscreen;QT_QUICK_BACKEND=software")
    endif()
endif()

# First run on the bundled demo model: no model configured, "What is 2+3?" gets "5".
if(TARGET ravel_ui)
    ravel_add_test(test_gui_demo
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_gui_demo.cpp
        LIBS ravel_ui
        LABELS gui
        TIMEOUT 300)
    if(TARGET test_gui_demo)
        set_target_properties(test_gui_demo PROPERTIES AUTOMOC ON)
        set_tests_properties(test_gui_demo PROPERTIES
            ENVIRONMENT "QT_QPA_PLATFORM=offscreen;QT_QUICK_BACKEND=software")
    endif()
endif()
