#pragma once

/// A gateway without a runtime for tests (on one node or on
/// `cluster_fixture`'s nodes), and a direct read of one node.

#include <chrono>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_router.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/sentinel_fixture.hpp"

namespace pulse::test {

/// An actor system of 2 threads with a gateway on `r` (a cluster router
/// when `r.cluster`, otherwise a single-node gateway) and a blocking client
/// of it; torn down client first, then the gateway, then the system.
struct gateway_system {
  explicit gateway_system(const redis_options& r) {
    cfg.set("scheduler.max-threads", 2);
    sys.emplace(cfg);
    gw = r.cluster ? spawn_cluster_gateway(*sys, r) : spawn_gateway(*sys, r);
    c.emplace(*sys, gw, std::chrono::seconds{10});
  }
  ~gateway_system() {
    c.reset();
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
    gw = nullptr; // a live handle keeps the detached actor's thread
    sys.reset();
  }
  pulse::config cfg;
  std::optional<caf::actor_system> sys;
  gateway_actor gw;
  std::optional<client> c;
};

/// `cluster_fixture`'s nodes with a `gateway_system` on them (the nodes
/// start first and stop last).
struct cluster_gateway_fixture : cluster_fixture, gateway_system {
  cluster_gateway_fixture() : gateway_system(redis_opts()) {}
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
