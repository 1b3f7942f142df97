#pragma once

/// Test fixtures shared by every test executable.
///
/// - `redis_fixture`: a real redis-server on a free loopback port (AOF off
///   by default), which tests can stop, kill and restart on the same port.
/// - `actor_fixture`: a Pulse actor system plus a runtime connected to that
///   server, with short timeouts; tears both down in the right order.
/// - `deterministic_fixture`: an actor system on CAF's `testing` scheduler
///   (no worker threads, virtual time) for timing logic without Redis.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include "pulse/actors/redis/client.hpp"
#include "tests/support/print.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/redis_server.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse::test {

using namespace std::chrono_literals;

/// Polls `pred` every 2 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = 5s);

/// Redis options pointing at `port` with short, test-friendly timeouts.
redis_options test_redis_options(uint16_t port);

struct redis_fixture {
  explicit redis_fixture(server_options opts = {});
  ~redis_fixture();

  redis_server& server() { return *server_; }
  uint16_t port() const { return server_->port(); }

  /// Options for connecting to this server.
  redis_options redis_opts() const { return test_redis_options(port()); }

  std::unique_ptr<redis_server> server_;
};

/// A redis fixture with AOF on (`appendfsync always`).
struct aof_redis_fixture : redis_fixture {
  aof_redis_fixture();
};

/// An actor system with a runtime connected to the fixture's server.
struct actor_fixture : redis_fixture {
  explicit actor_fixture(server_options opts = {});
  ~actor_fixture();

  pulse::config cfg;
  std::optional<caf::actor_system> sys;
  std::unique_ptr<pulse::runtime> rt;
  std::optional<caf::scoped_actor> self;

  /// A blocking client on the runtime's gateway.
  pulse::client& redis();

  std::unique_ptr<pulse::client> client_;
};

/// An actor system on the `testing` scheduler: run `sched().run()` to
/// drain mailboxes and `sched().advance_time(d)` to fire timers.
struct deterministic_fixture {
  deterministic_fixture();
  ~deterministic_fixture();

  caf::scheduler::test_coordinator& sched() { return *sched_; }

  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched_ = nullptr;
};

} // namespace pulse::test
