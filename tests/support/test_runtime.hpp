#pragma once

/// An actor system and a runtime for tests against a given Redis (a single
/// node, Sentinel or Cluster), with a blocking client on the runtime's
/// shared gateway.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>

#include <caf/actor_system.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse::test {

/// Starts an actor system in `sys` (2 scheduler threads, `cfg`) and a
/// runtime on it connected to `r`, with warn-level logs; `tweak` may change
/// the other options. Throws `std::runtime_error` when it does not start.
inline std::unique_ptr<runtime>
start_test_runtime(pulse::config& cfg, std::optional<caf::actor_system>& sys,
                   const redis_options& r,
                   const std::function<void(options&)>& tweak = {}) {
  cfg.set("scheduler.max-threads", 2);
  sys.emplace(cfg);
  options o;
  o.redis = r;
  o.log_level = "warn";
  if (tweak)
    tweak(o);
  auto started = runtime::start(*sys, o);
  if (!started)
    throw std::runtime_error("cannot start runtime: "
                             + render(started.error()));
  return std::move(*started);
}

/// Starts a runtime on `r` (see `start_test_runtime`), with a blocking
/// client on its shared gateway.
struct test_runtime {
  explicit test_runtime(const redis_options& r,
                        const std::function<void(options&)>& tweak = {}) {
    rt = start_test_runtime(cfg, sys, r, tweak);
    redis.emplace(*sys, rt->gateway(), std::chrono::seconds{10});
  }
  ~test_runtime() {
    redis.reset();
    rt.reset();
    sys.reset();
  }
  pulse::config cfg;
  std::optional<caf::actor_system> sys;
  std::unique_ptr<pulse::runtime> rt;
  /// A blocking client on the shared gateway (one thread at a time).
  std::optional<client> redis;
};

} // namespace pulse::test
