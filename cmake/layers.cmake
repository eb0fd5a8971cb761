# One static library per layer, each seeing only the headers of the layers it links.
#
# Public headers live in include/servreg/<layer>/ and private ones in src/servreg/<layer>/, as
# Pitchfork lays them out. Adding include/ as a whole to every target would let any layer
# include any other's headers; instead each layer gets include roots of its own in the build
# tree, holding a link to its folders only. A layer sees another's public headers only through
# target_link_libraries, so an include of a layer it does not link fails to compile
# ("No such file or directory"), and the CTest test layering.upper_include_fails shows it.

set(SERVREG_LAYER_ROOT "${PROJECT_BINARY_DIR}/layers")

# servreg_add_layer(NAME SOURCES file... [LAYERS lower layer target...] [LIBS private lib...])
# Creates servreg_NAME with the alias servreg::NAME.
function(servreg_add_layer name)
    cmake_parse_arguments(arg "" "" "SOURCES;LAYERS;LIBS" ${ARGN})
    set(public_root "${SERVREG_LAYER_ROOT}/${name}/include")
    set(private_root "${SERVREG_LAYER_ROOT}/${name}/src")
    file(MAKE_DIRECTORY "${public_root}/servreg" "${private_root}/servreg")
    if(EXISTS "${PROJECT_SOURCE_DIR}/include/servreg/${name}")
        file(CREATE_LINK "${PROJECT_SOURCE_DIR}/include/servreg/${name}"
             "${public_root}/servreg/${name}" SYMBOLIC)
    endif()
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/src/servreg/${name}"
         "${private_root}/servreg/${name}" SYMBOLIC)

    add_library(servreg_${name} STATIC ${arg_SOURCES})
    add_library(servreg::${name} ALIAS servreg_${name})
    target_include_directories(servreg_${name}
        PUBLIC $<BUILD_INTERFACE:${public_root}>
        PRIVATE ${private_root})
    target_link_libraries(servreg_${name} PUBLIC ${arg_LAYERS} PRIVATE ${arg_LIBS})
    servreg_enable_warnings(servreg_${name})
endfunction()
