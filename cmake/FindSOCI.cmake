# Finds SOCI, whose Debian package ships headers and libraries but no CMake package.
# Provides SOCI::core and one imported target per backend found: SOCI::sqlite3,
# SOCI::postgresql, SOCI::mysql.

find_path(SOCI_INCLUDE_DIR NAMES soci/soci.h)
find_library(SOCI_CORE_LIBRARY NAMES soci_core)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SOCI REQUIRED_VARS SOCI_CORE_LIBRARY SOCI_INCLUDE_DIR)

if(SOCI_FOUND AND NOT TARGET SOCI::core)
    add_library(SOCI::core UNKNOWN IMPORTED)
    set_target_properties(SOCI::core PROPERTIES
        IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
    foreach(backend sqlite3 postgresql mysql)
        find_library(SOCI_${backend}_LIBRARY NAMES soci_${backend})
        if(SOCI_${backend}_LIBRARY)
            add_library(SOCI::${backend} UNKNOWN IMPORTED)
            set_target_properties(SOCI::${backend} PROPERTIES
                IMPORTED_LOCATION "${SOCI_${backend}_LIBRARY}"
                INTERFACE_LINK_LIBRARIES SOCI::core)
            set(SOCI_${backend}_FOUND TRUE)
        endif()
    endforeach()
endif()
mark_as_advanced(SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY)
