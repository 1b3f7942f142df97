#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "pulse/messages/options.hpp"

namespace pulse {

/// A connected, authenticated socket handed from a connect helper to a
/// gateway or pub/sub actor.
struct connected_socket {
  /// The socket, blocking (send with MSG_DONTWAIT), TCP_NODELAY set. Owned by the receiver.
  int fd = -1;
  /// `CLIENT ID` of the connection (for `CLIENT UNBLOCK`/`CLIENT KILL`).
  int64_t client_id = 0;
};

/// Connects to `opts.host:opts.port` within `opts.connect_timeout`, then runs
/// `AUTH` (when a password is set), `SELECT` (when `db != 0`) and
/// `CLIENT ID`, and detaches the socket from hiredis.
///
/// Blocking: call it from a detached actor or thread, never from a scheduled
/// actor or a broker.
///
/// Errors: `errc::connect_failed` (refused, unreachable, timeout),
/// `errc::auth_failed` (AUTH or SELECT rejected).
caf::expected<connected_socket> connect_redis(const redis_options& opts);

/// Closes a socket obtained from `connect_redis` that was never handed over.
void close_socket(int fd);

} // namespace pulse
