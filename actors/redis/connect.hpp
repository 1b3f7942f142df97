#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/actors/redis/resp.hpp"
#include "pulse/actors/redis/wire.hpp"
#include "pulse/messages/options.hpp"

namespace pulse {

/// A connected, authenticated socket handed from a connect helper to a
/// gateway or pub/sub actor.
struct connected_socket {
  /// The connection (plain or TLS); over TCP with TCP_NODELAY and
  /// keepalive (`tcp_keepalive`) set. Dropping the last reference closes
  /// it.
  detail::wire_ptr conn;
  /// `CLIENT ID` of the connection (for `CLIENT UNBLOCK`/`CLIENT KILL`).
  int64_t client_id = 0;
  /// Where the connection goes (`host:port` or `unix:<path>`): with
  /// Sentinel, the master the sentinels named.
  std::string endpoint;
  /// With Sentinel: a connection to one of the sentinels, already
  /// subscribed to `+switch-master` (before the master was asked for, so
  /// no failover after it is missed); `detail::sentinel_watch` reads it.
  /// Null without Sentinel.
  detail::wire_ptr watch;
  /// In cluster mode: every node the connected node's `CLUSTER SLOTS`
  /// named (masters, then replicas, `host:port` each), for the next
  /// connect; empty otherwise.
  std::vector<std::string> cluster_nodes;
};

/// Connects to Redis within `opts.connect_timeout`: through the Unix domain
/// socket `opts.unix_socket` when set, else over TCP to `opts.host:opts.port`
/// (`opts.url`, when still set, is applied first: `apply_redis_url`); hiredis
/// only opens the socket. With `opts.tls`, runs the TLS handshake
/// (`detail::tls_connect`: verification, host name check, SNI, client
/// certificate). Then runs `AUTH [<username>] <password>` (when a password
/// is set), `SELECT <db>` (when `db != 0`) and `CLIENT ID` over the
/// connection; the parsed `CLIENT ID` reply is what makes it "connected"
/// (a TLS 1.3 server rejects a missing client certificate only at the first
/// read or write). Over TCP it sets TCP_NODELAY and, unless
/// `opts.tcp_keepalive` is 0, SO_KEEPALIVE with TCP_KEEPIDLE =
/// `tcp_keepalive` (whole seconds, rounded up), TCP_KEEPINTVL = a third of
/// it (at least 1 s) and TCP_KEEPCNT = 3.
///
/// With `opts.sentinels` (Redis Sentinel, see `actors/redis/sentinel.hpp`)
/// it first subscribes to `+switch-master` on one sentinel (`watch`), then
/// asks the sentinels in turn for the master of `opts.master_name`,
/// connects there as above and requires `ROLE` to say `master`; else it
/// asks again (every 100 ms) until `opts.connect_timeout` has passed.
///
/// With `opts.cluster` (Redis Cluster) it connects to the first node that
/// answers among the seeds (`host`/`port`, then `cluster_nodes`), each
/// with its share of `opts.connect_timeout` (at least 250 ms), and reads
/// `CLUSTER SLOTS` there (`cluster_nodes` of the result); see
/// `detail::connect_via_cluster`.
///
/// Blocking: call it from a detached actor or thread, never from a scheduled
/// actor or a broker.
///
/// Errors (messages name `host:port` or `unix:<path>`, never the password):
/// - with Sentinel also `errc::connect_failed` when no sentinel answers
///   (naming each and its cause) and `errc::no_master` when none knows
///   `master-name` or the named master does not say `ROLE master` in time;
/// - `errc::connect_failed`: refused, unreachable, timed out, unknown host,
///   missing socket file;
/// - `errc::auth_failed`: AUTH rejected (`WRONGPASS`), or NOAUTH (a password
///   is needed);
/// - `errc::invalid_config`: a malformed `url`, or SELECT rejected (e.g.
///   "ERR DB index is out of range"), naming `pulse.redis.db`; TLS options
///   that do not fit (`detail::check_tls_options`) or files that cannot be
///   loaded;
/// - `errc::tls_failed`: the TLS handshake failed, naming the cause (e.g.
///   "certificate verify failed (certificate has expired)"), or the server
///   closed the connection right after it (with a hint at the client
///   certificate).
caf::expected<connected_socket> connect_redis(const redis_options& opts);

/// `connect_redis` that, with Sentinel, first tries `master_hint`
/// (`host:port` named by a `+switch-master`; see `connect_via_sentinels`).
caf::expected<connected_socket> connect_redis(const redis_options& opts,
                                              const std::string& master_hint);

/// `connect_redis` that, in cluster mode, tries the nodes `cluster_known`
/// (from an earlier connect's `cluster_nodes`) before the seeds and
/// `master_hint` (the node whose connection was lost) last; without
/// cluster mode, `connect_redis(opts, master_hint)`.
caf::expected<connected_socket>
connect_redis(const redis_options& opts, const std::string& master_hint,
              const std::vector<std::string>& cluster_known);

/// Blocks until Redis completes a `connect_redis` handshake (the socket is
/// closed again), for the first connect of a runtime. A failed attempt with
/// `errc::connect_failed` (Redis not up yet) is retried with back-off
/// (`reconnect_min` doubling up to `reconnect_max`, never past the
/// deadline) for up to `opts.connect_wait`, with an info line at the first
/// failure and then at most every 5 s. With `connect_wait` 0: one attempt.
///
/// Errors: any other error of an attempt at once (`auth_failed`,
/// `invalid_config`, `tls_failed`); `errc::connect_failed` once
/// `connect_wait` is used up, naming the endpoint, the wait and the last
/// cause.
caf::error wait_for_redis(const redis_options& opts);

namespace detail {

/// Opens a socket to `host:port` (or `opts.unix_socket` when `host` is
/// empty and it is set) by `until`, with TCP_NODELAY, keepalive and, with
/// `opts.tls`, the TLS handshake; `where` names it in errors. Sends no
/// command. Errors: `errc::connect_failed`, `errc::tls_failed`.
caf::expected<wire_ptr> open_wire(const redis_options& opts,
                                  const std::string& host, uint16_t port,
                                  const std::string& where,
                                  std::chrono::steady_clock::time_point until);

/// Sends the command `args` over `w` and reads one reply by `until`, using
/// `dec` for the bytes (replies already buffered there come first).
/// Errors: `errc::disconnected`, `errc::timeout`, `errc::protocol_error`.
caf::expected<resp::value> sync_call(wire& w, resp::decoder& dec,
                                     const std::vector<std::string>& args,
                                     std::chrono::steady_clock::time_point
                                       until);

/// Connects to the node `opts` names (host/port or socket; sentinels are
/// ignored) by `until`: `open_wire`, AUTH, SELECT, CLIENT ID and, with
/// `check_role`, `ROLE`, which must say `master` (else `errc::no_master`).
/// Errors: those of `connect_redis` for one node.
caf::expected<connected_socket>
connect_node(const redis_options& opts, bool check_role,
             std::chrono::steady_clock::time_point until);

/// The nodes a cluster-mode connect tries, in order: `known` (the topology
/// learned last), then `seeds`, each once, and `last` (the node lost last)
/// at the end.
std::vector<std::string>
cluster_candidates(const std::vector<std::string>& seeds,
                   const std::vector<std::string>& known,
                   const std::string& last);

/// Connects in cluster mode (`actors/redis/cluster_connect.cpp`): tries
/// `cluster_candidates(seeds of opts, known, last)` in turn within
/// `opts.connect_timeout`, each node with its share of what is left (at
/// least 250 ms), as `connect_node` (no `ROLE` check: any master or
/// replica will do for pub/sub), then reads `CLUSTER SLOTS` there into
/// `cluster_nodes`. Errors: `errc::invalid_config` for a bad seed; the
/// first `auth_failed`, `invalid_config` or `tls_failed` of a node at once;
/// else `errc::connect_failed` naming each node tried and its cause.
caf::expected<connected_socket>
connect_via_cluster(const redis_options& opts,
                    const std::vector<std::string>& known,
                    const std::string& last);

} // namespace detail

} // namespace pulse
