# app/core: worker thread, controllers, list models, settings (fake backend; no model needed).
foreach(unit app_worker app_models app_controller app_transfer)
    ravel_add_test(test_${unit}
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_${unit}.cpp
        LIBS ravel_app
        LABELS unit
        TIMEOUT 120)
    if(TARGET test_${unit})
        set_target_properties(test_${unit} PROPERTIES AUTOMOC ON)
    endif()
endforeach()
# The real engine behind the worker, on a shared test model.
ravel_add_test(test_app_engine_backend
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_app_engine_backend.cpp
    LIBS ravel_app ravel_cli
    LABELS conformance
    TIMEOUT 300)
if(TARGET test_app_engine_backend)
    set_target_properties(test_app_engine_backend PROPERTIES AUTOMOC ON)
endif()
# The app's SQLite storage when its database misbehaves (unreadable rows, failing writes).
if(TARGET ravel_storage)
    find_package(SQLite3 REQUIRED)
    ravel_add_test(test_app_sqlite_storage
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_app_sqlite_storage.cpp
        LIBS ravel_app SQLite::SQLite3
        LABELS unit
        TIMEOUT 120)
endif()
