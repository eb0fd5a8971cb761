# Small helpers shared by the project's targets.

# Applies the project's warning set to a target.
function(servreg_enable_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
        -Wcast-align -Wunused -Woverloaded-virtual
        $<$<BOOL:${SERVREG_WERROR}>:-Werror>)
endfunction()
