#pragma once

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "pulse/messages/metrics.hpp"
#include "pulse/messages/options.hpp"
#include "pulse/messages/pubsub.hpp"
#include "pulse/messages/redis.hpp"

namespace pulse {

/// The process-wide services every package spawns its actors with: the
/// actor system, the shared gateway, the pub/sub actor, extra gateways and
/// the registry of actors to exit on shutdown. `pulse::runtime` (the
/// composition root, `runtime/runtime.hpp`) implements it, so a package
/// never includes the runtime; tests may implement it too.
class services {
public:
  virtual ~services();

  /// The actor system all actors run in.
  virtual caf::actor_system& system() noexcept = 0;

  /// The options in effect.
  virtual const options& opts() const noexcept = 0;

  /// The Redis options in effect (for an embedded server, its host and
  /// port).
  const redis_options& redis() const noexcept { return opts().redis; }

  /// The shared pipelined gateway.
  virtual const gateway_actor& gateway() const noexcept = 0;

  /// The pub/sub actor.
  virtual const pubsub_actor& pubsub() const noexcept = 0;

  /// Spawns another gateway on its own connection (e.g. a `blocking` one
  /// per blocking reader), exited on shutdown. Thread-safe.
  virtual gateway_actor spawn_gateway(gateway_role role
                                      = gateway_role::blocking)
    = 0;

  /// Registers an actor to exit (and wait for) on shutdown, before the
  /// gateways. Thread-safe; after shutdown began, exits it at once.
  virtual void track(caf::actor hdl) = 0;

  /// Registers a reader, sink, replica or pool node whose stats the
  /// metrics endpoint collects while it lives (`runtime/metrics.hpp`).
  /// Thread-safe. The default does nothing (no metrics endpoint).
  virtual void announce(metrics_source src);
};

} // namespace pulse
