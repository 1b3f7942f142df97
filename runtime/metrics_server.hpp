#pragma once

/// The metrics endpoint: an embedded HTTP server (cpp-httplib, on its own
/// threads) serving `GET /metrics` in Prometheus text format 0.0.4 and the
/// dashboard (`GET /`, `GET /api/state`, `POST /api/redrive?streams=a,b`;
/// `runtime/dashboard.hpp`). Started by the runtime when `[pulse.metrics] port` is set, stopped before its actors.

#include <cstdint>
#include <memory>

#include <caf/expected.hpp>

#include "pulse/messages/options.hpp"

namespace pulse {

class runtime;

/// The running HTTP endpoint. Request handlers run on the server's own
/// threads and never on a CAF scheduler thread; each scrape waits at most
/// twice `metrics_options::scrape_timeout` for the actors' answers.
class metrics_server {
public:
  /// Binds `opts.bind:opts.port` and starts serving. Errors:
  /// `errc::invalid_config` when the address cannot be bound (in use, not
  /// local) or the server does not come up within 5 s.
  static caf::expected<std::unique_ptr<metrics_server>>
  start(runtime& rt, const metrics_options& opts);

  /// Stops the server (see `stop`).
  ~metrics_server();

  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// The port it listens on.
  uint16_t port() const noexcept;

  /// Stops accepting, waits for the requests in progress (a scrape is
  /// bounded by its timeout) and joins the server threads. Idempotent.
  void stop();

private:
  struct impl;
  explicit metrics_server(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace pulse
