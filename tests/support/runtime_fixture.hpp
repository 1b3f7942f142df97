#pragma once

/// A runtime started with options a test changes from the defaults, on the
/// fixture's redis-server: for suites that check how configured defaults
/// reach the actors (safe trimming, `[pulse.streaming]` defaults).

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/test_runtime.hpp"

namespace pulse::test {

/// Starts an actor system (2 scheduler threads) and a runtime whose options
/// `change` edits (after the Redis endpoint and `warn` logging are set);
/// `redis` is a blocking client on its gateway. Throws if the runtime does
/// not start.
struct configured_runtime : redis_fixture {
  explicit configured_runtime(const std::function<void(options&)>& change) {
    rt = start_test_runtime(cfg, sys, redis_opts(), change);
    self.emplace(*sys);
    redis.emplace(*sys, rt->gateway(), std::chrono::seconds{10});
  }

  ~configured_runtime() {
    redis.reset();
    self.reset();
    rt.reset();
    sys.reset();
  }

  pulse::config cfg;
  std::optional<caf::actor_system> sys;
  std::unique_ptr<pulse::runtime> rt;
  std::optional<caf::scoped_actor> self;
  std::optional<client> redis;
};

} // namespace pulse::test
