# pulse_add_test(<name> <sources>...)
#
# Builds a Boost.Test executable and registers one ctest entry per test case
# (`<name>.<suite>.<case>`). Cases are discovered when ctest starts by running
# `<exe> --list_content`, so the list always matches the binary. Every case
# must live in a BOOST_AUTO_TEST_SUITE (one level). Cases named for killed
# processes or Redis restarts get the label `chaos`.
function(pulse_add_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE pulse_test_support)
  pulse_warnings(${name})
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${name}_discover.cmake")
  file(GENERATE OUTPUT "${script}" CONTENT "
set(exe \"$<TARGET_FILE:${name}>\")
if(NOT EXISTS \"\${exe}\")
  add_test(${name}.NOT_BUILT \"\${exe}\")
  return()
endif()
execute_process(COMMAND \"\${exe}\" --list_content
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(REPLACE \"\\n\" \";\" lines \"\${err}\${out}\")
set(suite \"\")
foreach(line IN LISTS lines)
  if(line MATCHES \"^([A-Za-z0-9_]+)\\\\*?\$\")
    set(suite \"\${CMAKE_MATCH_1}\")
  elseif(line MATCHES \"^    ([A-Za-z0-9_]+)\\\\*?\$\")
    set(case \"\${CMAKE_MATCH_1}\")
    add_test(${name}.\${suite}.\${case} \"\${exe}\" --run_test=\${suite}/\${case})
    set_tests_properties(${name}.\${suite}.\${case} PROPERTIES TIMEOUT 120)
    # Cases that SIGKILL processes or restart Redis: `ctest -L chaos`.
    if(case MATCHES \"killed|sigkill|restart\")
      set_tests_properties(${name}.\${suite}.\${case} PROPERTIES LABELS chaos)
    endif()
  endif()
endforeach()
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
endfunction()
