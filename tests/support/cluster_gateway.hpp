#pragma once

/// A cluster gateway without a runtime for tests, on `cluster_fixture`'s
/// nodes, and a direct read of one node.

#include <chrono>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_router.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/sentinel_fixture.hpp"

namespace pulse::test {

/// An actor system with a cluster gateway (no runtime) and a blocking
/// client of it.
struct cluster_gateway_fixture : cluster_fixture {
  cluster_gateway_fixture() {
    cfg.set("scheduler.max-threads", 2);
    sys.emplace(cfg);
    gw = spawn_cluster_gateway(*sys, redis_opts());
    c.emplace(*sys, gw, std::chrono::seconds{10});
  }
  ~cluster_gateway_fixture() {
    c.reset();
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
    gw = nullptr; // a live handle keeps the detached router's thread
    sys.reset();
  }
  pulse::config cfg;
  std::optional<caf::actor_system> sys;
  gateway_actor gw;
  std::optional<client> c;
};

/// What node `port` answers for `GET key` (without redirects): the value,
/// or the error in angle brackets.
inline std::string get_on(uint16_t port, const std::string& key) {
  auto r = command_on(port, {"GET", key});
  if (!r)
    return "<" + render(r.error()) + ">";
  return r->is_error() ? "<" + r->str + ">" : r->str;
}

} // namespace pulse::test
