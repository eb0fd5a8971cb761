# Checks the third-party half of the layer rule, which include paths cannot enforce (Debian
# installs every library's headers in /usr/include): each library is included only by the
# layer that owns it. Run as a CTest test: cmake -DROOT=<source dir> -P check_layers.cmake
#
# The servreg half (a layer including a layer it does not link) is a compile error; see
# cmake/layers.cmake.

# layer: the third-party include prefixes it must not use
set(forbidden_config "boost/;nlohmann/;soci/;sqlite3.h;spdlog/")
set(forbidden_storage "boost/;nlohmann/;CLI/")
set(forbidden_registry "boost/;nlohmann/;soci/;sqlite3.h;CLI/;spdlog/")
set(forbidden_jsonrpc "boost/;soci/;sqlite3.h;CLI/")
set(forbidden_http "nlohmann/;soci/;sqlite3.h;CLI/")

set(failures "")
foreach(layer config storage registry jsonrpc http)
    file(GLOB_RECURSE files
        "${ROOT}/include/servreg/${layer}/*.h" "${ROOT}/src/servreg/${layer}/*.h"
        "${ROOT}/src/servreg/${layer}/*.cpp")
    foreach(file IN LISTS files)
        file(STRINGS "${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
        foreach(line IN LISTS includes)
            string(REGEX REPLACE "^[^<\"]*[<\"]([^>\"]*)[>\"].*$" "\\1" header "${line}")
            foreach(prefix IN LISTS forbidden_${layer})
                string(FIND "${header}" "${prefix}" at)
                if(at EQUAL 0)
                    file(RELATIVE_PATH rel "${ROOT}" "${file}")
                    string(APPEND failures "  ${rel}: ${layer} includes <${header}>\n")
                endif()
            endforeach()
        endforeach()
    endforeach()
endforeach()

if(failures)
    message(FATAL_ERROR "third-party headers outside the layer that owns them "
                        "(docs/architecture.md, Layers):\n${failures}")
endif()
message(STATUS "every layer includes only its own third-party library")
