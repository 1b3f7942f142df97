#pragma once

/// Redis URLs (`[pulse.redis] url`): parsing and applying them to
/// `redis_options`. Pure string work: no I/O, no Redis command.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/messages/options.hpp"

namespace pulse {

/// The parts of a Redis URL, percent-decoded.
struct redis_url {
  /// TCP host (an IPv6 address without its brackets); empty for a Unix
  /// socket.
  std::string host;
  /// TCP port (6379 when the URL has none).
  uint16_t port = 6379;
  /// Path of the Unix domain socket; empty for TCP.
  std::string unix_socket;
  /// Database index, when the URL has one (`/3` or `?db=3`).
  std::optional<int64_t> db;
  /// ACL user, set whenever the URL has user info: empty for
  /// `:password@` (plain `AUTH <password>`).
  std::optional<std::string> username;
  /// Password (never empty), set whenever the URL has user info.
  std::optional<std::string> password;
  /// The scheme was `rediss://` or `rediss+sentinel://`: TLS.
  bool tls = false;
  /// `redis+sentinel://` only: the sentinels, `host:port` each
  /// (`[v6addr]:port` for IPv6; port 26379 when the URL has none), in URL
  /// order. Empty for every other form.
  std::vector<std::string> sentinels;
  /// `redis+sentinel://` only: the name the sentinels monitor the master
  /// under (percent-decoded, never empty there).
  std::string master_name;
};

/// Parses a Redis URL:
/// - `redis://[[user]:password@]host[:port][/db][?db=N]`, host a name, an
///   IPv4 address or a bracketed IPv6 address (`[::1]`); user info without
///   ':' is an error (it could be read as either part);
/// - `rediss://...`: the same, with `tls` set;
/// - `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/
///   master-name[/db][?db=N]`: Redis Sentinel, the sentinels in order
///   (port 26379 by default) and the monitored master's name; user info
///   and db are the data node's (the sentinels' own password is
///   `sentinel_password`); `rediss+sentinel://` also sets `tls`;
/// - `unix:///path/to/redis.sock[?db=N]` (also `unix://[user]:password@/path`)
///   and `unix:/path/to/redis.sock[?db=N]`.
///
/// The scheme is case-insensitive; user, password, socket path and query
/// values are percent-decoded (`%40` is `@`).
///
/// Errors: `errc::invalid_config` with a message that starts with
/// `pulse.redis.url: ` and names the bad part (scheme, host, port, db, user,
/// password, socket path, query parameter, sentinel address, master name).
/// Messages never contain the password.
caf::expected<redis_url> parse_redis_url(std::string_view url);

/// Applies `opts.url`, when set, to `opts` and clears it: the URL sets the
/// endpoint (host and port, or the socket path; the other kind is cleared;
/// for `redis+sentinel://`, `sentinels` and `master_name`, replacing any
/// configured, with `unix_socket` cleared and `host`/`port` left alone),
/// db when it has one, username and password when it has user info
/// (`redis://:pw@host` clears `username`), and `tls` for `rediss://`
/// (`redis://` leaves `tls` as configured). `PULSE_REDIS_PASSWORD`, applied
/// later by `read_config`, still wins. Does nothing for an empty `url`.
///
/// Errors: those of `parse_redis_url`; `opts` is then unchanged.
caf::error apply_redis_url(redis_options& opts);

} // namespace pulse
