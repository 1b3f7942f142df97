#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/pubsub.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/redis_server.hpp"
#include "pulse/messages/runtime.hpp"

namespace pulse {

class metrics_server;

/// The Pulse runtime of one process: the shared Redis gateway, the pub/sub
/// actor and, when no Redis host is configured (or `pulse.redis.embedded`
/// is true), a private redis-server on a free loopback port.
///
/// Create it after the `caf::actor_system` and destroy it before: its
/// destructor exits every service actor it spawned and waits for them, so
/// the actor system can shut down without hanging.
class runtime : public services {
public:
  /// Applies `opts.redis.url` (if still set), starts the embedded server if
  /// needed or else connects once to check Redis (`wait_for_redis`: AUTH,
  /// SELECT, CLIENT ID; retried for up to `connect-wait` while refused),
  /// spawns the gateway and the pub/sub actor, checks the connection
  /// with `PING` (within the connect timeout) and, when
  /// `[pulse.metrics] port` is set, starts the metrics endpoint
  /// (`runtime/metrics_server.hpp`; `errc::invalid_config` when it cannot
  /// bind). Errors:
  /// `errc::server_failed`, `errc::connect_failed` (naming `host:port` or
  /// the socket path), `errc::auth_failed`, `errc::invalid_config` (a
  /// malformed URL, a database index Redis refuses, TLS options that do not
  /// fit: `tls` with the embedded server or a Unix socket, unreadable
  /// certificate files), `errc::tls_failed` (the TLS handshake failed or
  /// the server rejected the client: the message names the cause).
  static caf::expected<std::unique_ptr<runtime>>
  start(caf::actor_system& sys, const options& opts);

  ~runtime() override;

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// The shared pipelined gateway.
  const gateway_actor& gateway() const noexcept override { return gateway_; }

  /// The pub/sub actor.
  const pubsub_actor& pubsub() const noexcept override { return pubsub_; }

  /// The runtime actor: spawns readers, sinks, replicas and pool nodes and
  /// adds stream events by message, for event-based actors that must not
  /// block (`messages/runtime.hpp`).
  const runtime_actor& actor() const noexcept { return actor_; }

  /// Spawns another gateway on its own connection (e.g. a `blocking` one
  /// per blocking reader). The runtime exits it on shutdown. Thread-safe.
  gateway_actor spawn_gateway(gateway_role role
                              = gateway_role::blocking) override;

  /// Registers an actor the runtime exits (and waits for) on shutdown,
  /// before its gateways: readers, sinks, replicas, pool nodes. Thread-safe;
  /// after shutdown began the actor is exited at once.
  void track(caf::actor hdl) override;

  /// Remembers a reader, sink, replica or pool node for the metrics
  /// endpoint (weakly: terminated ones are dropped). Thread-safe.
  void announce(metrics_source src) override;

  /// The announced sources still alive. Thread-safe.
  std::vector<metrics_source> sources();

  /// Every gateway still alive (the shared one first) with its role.
  /// Thread-safe.
  std::vector<std::pair<gateway_role, gateway_actor>> gateways();

  /// The port the metrics endpoint listens on; 0 when it is off.
  uint16_t metrics_port() const noexcept;

  /// The options in effect; for an embedded server, `redis().host` and
  /// `redis().port` name it.
  const options& opts() const noexcept override { return opts_; }

  /// The embedded server, or `nullptr`.
  redis_server* embedded() const noexcept { return server_.get(); }

  caf::actor_system& system() noexcept override { return sys_; }

  /// Stops the metrics endpoint, exits every service actor (waiting up to
  /// 5 s for them), then stops the embedded server. Idempotent; called by the destructor.
  void shutdown();

private:
  runtime(caf::actor_system& sys, options opts);

  caf::actor_system& sys_;
  options opts_;
  std::unique_ptr<redis_server> server_;
  gateway_actor gateway_;
  pubsub_actor pubsub_;
  runtime_actor actor_;
  /// Guards `services_`, `users_` and `stopped_`: actors call
  /// `spawn_gateway` and `track` from their own threads.
  std::mutex mtx_;
  std::vector<caf::actor> services_;
  std::vector<caf::actor> users_;
  std::vector<metrics_source> sources_;
  std::vector<std::pair<gateway_role, caf::actor_addr>> gateways_;
  bool stopped_ = false;
  /// The metrics endpoint, when `[pulse.metrics] port` is set.
  std::unique_ptr<metrics_server> metrics_;
};

} // namespace pulse
