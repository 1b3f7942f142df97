# PULSE_SANITIZE: sanitizers for every target of this project (scripts/sanitize).
#   -DPULSE_SANITIZE=address,undefined   ASan + UBSan (UB aborts: no recovery)
#   -DPULSE_SANITIZE=thread              TSan
# Empty (the default) builds without them.
set(PULSE_SANITIZE "" CACHE STRING
  "Sanitizers for every target: empty, address,undefined or thread")
set_property(CACHE PULSE_SANITIZE PROPERTY STRINGS "" "address,undefined" "thread")

set(PULSE_SANITIZE_FLAGS "")
if(PULSE_SANITIZE)
  # -O1 (after the build type's -O2, so it wins): the level the sanitizers'
  # docs suggest; it compiles a CAF translation unit in about three quarters
  # of the -O2 time (sink_read.cpp with ASan+UBSan: 37.5 s against 50.1 s).
  set(PULSE_SANITIZE_FLAGS -fsanitize=${PULSE_SANITIZE} -fno-omit-frame-pointer
      -O1)
  if(PULSE_SANITIZE MATCHES "undefined")
    # UB aborts the test. Only the null check stays recoverable, so that
    # tests/sanitizers/ubsan.supp can silence CAF's own null reference
    # (init_fun_factory.hpp); UBSAN_OPTIONS=halt_on_error=1 (scripts/sanitize)
    # still makes any other null report fatal.
    list(APPEND PULSE_SANITIZE_FLAGS -fno-sanitize-recover=undefined
         -fsanitize-recover=null)
  endif()
  if(PULSE_SANITIZE MATCHES "address")
    # GCC's -Wmaybe-uninitialized gives false positives in libstdc++ (regex,
    # vector) under ASan instrumentation; the plain build keeps it.
    list(APPEND PULSE_SANITIZE_FLAGS -Wno-maybe-uninitialized)
  endif()
endif()

# pulse_sanitize(<target>): compile and link <target> with the sanitizers.
# (Link options are ignored for static libraries; their executables link
# the runtime.)
function(pulse_sanitize target)
  if(PULSE_SANITIZE_FLAGS)
    target_compile_options(${target} PRIVATE ${PULSE_SANITIZE_FLAGS})
    target_link_options(${target} PRIVATE ${PULSE_SANITIZE_FLAGS})
  endif()
endfunction()
