#pragma once

/// Redis Cluster topology: the slot table read from `CLUSTER SLOTS`,
/// `MOVED`/`ASK` redirects, the seed list and the option checks of cluster
/// mode. Pure functions, no I/O (the router, `cluster_router.hpp`, does the
/// talking).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/actors/redis/sentinel.hpp"
#include "pulse/messages/options.hpp"
#include "pulse/messages/resp.hpp"

namespace pulse::cluster {

/// Which master owns each slot.
struct slot_table {
  /// The masters, `host:port` each (as `host_port::text`).
  std::vector<std::string> masters;
  /// For each of the 16384 slots, an index into `masters`, or -1 when no
  /// master serves it.
  std::vector<int16_t> owner;
  /// The replicas `CLUSTER SLOTS` named (`host:port` each, each once, none
  /// of them in `masters`): nodes that answer `CLUSTER SLOTS` and
  /// `SUBSCRIBE` too.
  std::vector<std::string> replicas;

  /// Returns the index of `addr` in `masters`, adding it when new.
  int16_t index_of(const std::string& addr);

  /// Returns the number of slots with an owner.
  size_t covered() const;

  /// Returns the masters that own at least one slot, in `masters` order
  /// (a master that lost all its slots, e.g. after a failover, is left
  /// out).
  std::vector<std::string> serving() const;

  /// Returns every node the table names: `masters`, then `replicas`.
  std::vector<std::string> nodes() const;
};

/// Parses a `CLUSTER SLOTS` reply (RESP2: `[start, end, [ip, port, id,
/// ...], replicas...]` per range); the replicas go to `replicas`. An empty
/// ip means the host the reply came from (`default_host`). Errors:
/// `errc::protocol_error` for a reply of another shape.
caf::expected<slot_table> parse_slots(const resp::value& reply,
                                      const std::string& default_host);

/// A `-MOVED <slot> <host>:<port>` or `-ASK <slot> <host>:<port>` reply.
struct redirect {
  /// True for `ASK` (one `ASKING` + retry, no table change), false for
  /// `MOVED`.
  bool ask = false;
  /// The slot.
  uint16_t slot = 0;
  /// The node to go to, `host:port` (an empty host in the reply becomes
  /// `default_host`).
  std::string addr;
};

/// Parses the text of a Redis error reply as a redirect; `nullopt` when it
/// is none.
std::optional<redirect> parse_redirect(const std::string& text,
                                       const std::string& default_host);

/// Returns the seeds of cluster mode: `host:port` (when a host is set),
/// then each `cluster_nodes` entry. Errors: `errc::invalid_config` naming
/// a bad entry.
caf::expected<std::vector<detail::host_port>>
seeds(const redis_options& opts);

/// Returns `opts` aimed at the node `addr` (`host:port`): cluster mode
/// off, so the result configures one ordinary gateway.
redis_options node_options(const redis_options& opts, const std::string& addr);

} // namespace pulse::cluster

namespace pulse::detail {

/// Checks the cluster options: with `cluster` on, at least one seed,
/// every `cluster-nodes` entry `host:port`, no `sentinels`, no
/// `unix-socket`, `db` 0 (Redis Cluster has only database 0). Errors:
/// `errc::invalid_config` naming the option.
caf::error check_cluster_options(const redis_options& opts);

} // namespace pulse::detail
