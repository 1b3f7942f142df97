# Declares the imported targets for the three dependencies that ship no usable
# CMake targets on Debian 12, unless the including project already has them:
#   CAF::core          libcaf-dev 0.17 (no CMake config at all)
#   hiredis::hiredis   libhiredis-dev 0.14 (its config sets variables only;
#                      call find_package(Hiredis 0.14) before this file)
#   pulse::httplib     libcpp-httplib-dev 0.11 (pkg-config only; its compile
#                      definitions must match the shared library's)
# Used by pulse's own build and by the installed pulseConfig.cmake.

if(NOT TARGET CAF::core)
  find_path(PULSE_CAF_INCLUDE_DIR caf/all.hpp)
  find_library(PULSE_CAF_CORE_LIB caf_core)
  if(NOT PULSE_CAF_INCLUDE_DIR OR NOT PULSE_CAF_CORE_LIB)
    message(FATAL_ERROR
      "pulse: CAF 0.17 not found (caf/all.hpp, libcaf_core); "
      "on Debian: apt install libcaf-dev")
  endif()
  add_library(CAF::core SHARED IMPORTED)
  set_target_properties(CAF::core PROPERTIES
    IMPORTED_LOCATION "${PULSE_CAF_CORE_LIB}"
    INTERFACE_INCLUDE_DIRECTORIES "${PULSE_CAF_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()

if(NOT TARGET hiredis::hiredis)
  add_library(hiredis::hiredis INTERFACE IMPORTED)
  set_target_properties(hiredis::hiredis PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${HIREDIS_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${HIREDIS_LIBRARIES}")
endif()

if(NOT TARGET pulse::httplib)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(PULSE_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib>=0.11)
  add_library(pulse::httplib INTERFACE IMPORTED)
  set_target_properties(pulse::httplib PROPERTIES
    INTERFACE_LINK_LIBRARIES PkgConfig::PULSE_HTTPLIB)
endif()
