// The README's first program, verbatim (scripts/check-snippets keeps the two
// equal): configuration, actor system, runtime, a blocking Redis call.

// [main]
#include <iostream>

#include <caf/all.hpp>

#include <pulse/actors/redis/client.hpp>
#include <pulse/runtime/config.hpp>
#include <pulse/runtime/errors.hpp>
#include <pulse/runtime/runtime.hpp>

int main(int argc, char** argv) {
  pulse::config cfg;                      // caf-application.conf + command line
  if (auto err = cfg.read(argc, argv))    // bad config: 1; --help: 0, runs nothing
    return pulse::exit_status(err);
  caf::actor_system sys{cfg};
  auto rt = pulse::runtime::start(sys, cfg.opts()); // embedded redis-server if no host
  if (!rt)
    return pulse::exit_status(rt.error());
  pulse::client redis{sys, (*rt)->gateway()};       // blocking facade for non-actor code
  if (auto v = redis("SET", "k", "v"))
    std::cout << "SET k v -> " << v->str << '\n';
} // the runtime (declared after the actor system) stops its actors first
// [main]
