#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/messages/options.hpp"

namespace pulse {

/// A connected, authenticated socket handed from a connect helper to a
/// gateway or pub/sub actor.
struct connected_socket {
  /// The socket, blocking (send with MSG_DONTWAIT); over TCP with
  /// TCP_NODELAY and keepalive (`tcp_keepalive`) set. Owned by the receiver.
  int fd = -1;
  /// `CLIENT ID` of the connection (for `CLIENT UNBLOCK`/`CLIENT KILL`).
  int64_t client_id = 0;
};

/// Connects to Redis within `opts.connect_timeout`: through the Unix domain
/// socket `opts.unix_socket` when set, else over TCP to `opts.host:opts.port`
/// (`opts.url`, when still set, is applied first: `apply_redis_url`). Then
/// runs `AUTH [<username>] <password>` (when a password is set),
/// `SELECT <db>` (when `db != 0`) and `CLIENT ID`, and detaches the socket
/// from hiredis. Over TCP it sets TCP_NODELAY and, unless
/// `opts.tcp_keepalive` is 0, SO_KEEPALIVE with TCP_KEEPIDLE =
/// `tcp_keepalive` (whole seconds, rounded up), TCP_KEEPINTVL = a third of
/// it (at least 1 s) and TCP_KEEPCNT = 3.
///
/// Blocking: call it from a detached actor or thread, never from a scheduled
/// actor or a broker.
///
/// Errors (messages name `host:port` or `unix:<path>`, never the password):
/// - `errc::connect_failed`: refused, unreachable, timed out, unknown host,
///   missing socket file;
/// - `errc::auth_failed`: AUTH rejected (`WRONGPASS`), or NOAUTH (a password
///   is needed);
/// - `errc::invalid_config`: a malformed `url`, or SELECT rejected (e.g.
///   "ERR DB index is out of range"), naming `pulse.redis.db`.
caf::expected<connected_socket> connect_redis(const redis_options& opts);

/// Blocks until Redis completes a `connect_redis` handshake (the socket is
/// closed again), for the first connect of a runtime. A failed attempt with
/// `errc::connect_failed` (Redis not up yet) is retried with back-off
/// (`reconnect_min` doubling up to `reconnect_max`, never past the
/// deadline) for up to `opts.connect_wait`, with an info line at the first
/// failure and then at most every 5 s. With `connect_wait` 0: one attempt.
///
/// Errors: any other error of an attempt at once (`auth_failed`,
/// `invalid_config`); `errc::connect_failed` once `connect_wait` is used
/// up, naming the endpoint, the wait and the last cause.
caf::error wait_for_redis(const redis_options& opts);

/// Closes a socket obtained from `connect_redis` that was never handed over.
void close_socket(int fd);

} // namespace pulse
