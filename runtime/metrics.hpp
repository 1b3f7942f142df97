#pragma once

/// The metrics of a running process: one snapshot of every counter the
/// runtime's actors keep (gateways, pub/sub, readers, sinks, replicas, pool
/// nodes), collected asynchronously with a bounded wait, and its renderings
/// as Prometheus text (`/metrics`) and as JSON (the dashboard's `/api/state`).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/metrics.hpp"
#include "pulse/messages/pool.hpp"
#include "pulse/messages/pubsub.hpp"
#include "pulse/messages/redis.hpp"
#include "pulse/messages/rmap.hpp"
#include "pulse/messages/streaming.hpp"

namespace pulse {

class runtime;

/// Every counter of the process at one moment, aggregated for exposition:
/// gateways per role, sinks per name and streams, readers per streams, maps
/// per name (several instances in one process add up; pending, lag and
/// revision take the largest), pool nodes one by one.
struct metrics_snapshot {
  /// The gateways of one role, added up.
  struct gateway_entry {
    /// `"pipelined"` (the shared gateway) or `"blocking"`.
    std::string role;
    /// How many gateways of this role answered.
    uint64_t gateways = 0;
    /// How many of them were connected.
    uint64_t connected = 0;
    /// Their counters added up (`latency` merged).
    gateway_stats stats;
  };
  /// The sinks (or readers) of one name and stream list.
  struct stream_entry {
    /// The sink's name (empty for readers).
    std::string name;
    /// The streams, comma-separated, as spawned.
    std::string streams;
    /// Instances in this process that answered.
    uint64_t instances = 0;
    /// Counters added up; `pending` and `lag` are the largest reported
    /// (they describe the group, which all instances share).
    stream_stats stats;
  };
  /// The replicas of one map.
  struct map_entry {
    /// The map's name.
    std::string name;
    /// Replicas in this process that answered.
    uint64_t replicas = 0;
    /// Counters added up; `rev` is the largest.
    replica_stats stats;
  };
  /// The gateways by role (pipelined first).
  std::vector<gateway_entry> gateways;
  /// The pub/sub actor's counters, if it answered.
  bool has_pubsub = false;
  /// The pub/sub actor's counters.
  pubsub_stats pubsub;
  /// Sinks by name and streams.
  std::vector<stream_entry> sinks;
  /// Readers by streams.
  std::vector<stream_entry> readers;
  /// Maps by name.
  std::vector<map_entry> maps;
  /// Pool nodes, by pool and node ID.
  std::vector<pool_stats> pools;
  /// What a pool's Redis keys say (`add_pool_keys`), per pool.
  struct pool_keys_entry {
    /// The pool's name.
    std::string pool;
    /// Delayed jobs waiting (`ZCARD delayed`).
    int64_t delayed = 0;
    /// Whether `next_due_in_ms` holds a value (some job is delayed).
    bool has_next = false;
    /// Milliseconds until the earliest delayed job is due, on Redis' clock
    /// (negative when overdue).
    int64_t next_due_in_ms = 0;
    /// Jobs in the pool's dead set (`ZCARD dead`).
    int64_t dead = 0;
  };
  /// Pools with a node in this process, by name (empty until
  /// `add_pool_keys`).
  std::vector<pool_keys_entry> pool_keys;
  /// Actors asked.
  uint64_t asked = 0;
  /// Actors that did not answer within the scrape timeout (or failed).
  uint64_t missing = 0;
  /// How long collecting took, in seconds.
  double duration = 0;
};

/// Asks every live actor of `rt` for its stats (`(stats_atom)` requests
/// from a short-lived event-based actor, each bounded by `timeout`) and
/// waits for the answers. Call it from a thread that may block (the HTTP
/// server's), never from a scheduler thread. Actors that do not answer in
/// time are left out and counted in `missing`. Errors: `errc::timeout` if
/// the collection did not finish within twice `timeout` (it always should).
caf::expected<metrics_snapshot> collect_metrics(runtime& rt,
                                                caf::timespan timeout);

/// Reads the Redis keys of every pool with a node in `x.pools` into
/// `x.pool_keys`: one batch of `ZCARD delayed`, `ZRANGE delayed 0 0
/// WITHSCORES` and `ZCARD dead` per pool and one `TIME`, through a blocking client on the
/// runtime's gateway bounded by `timeout`. Call it from a thread that may
/// block (the HTTP server's). On an error, `x.pool_keys` stays empty (the
/// series are left out of that scrape) and the error is returned.
caf::error add_pool_keys(runtime& rt, metrics_snapshot& x,
                         caf::timespan timeout);

/// Renders `x` as Prometheus text format 0.0.4 (every family in
/// `docs/operations.md`).
std::string render_prometheus(const metrics_snapshot& x);

/// Renders `x` as one JSON object (`gateways`, `pubsub`, `sinks`,
/// `readers`, `maps`, `pools`, `scrape`) for the dashboard.
std::string render_json(const metrics_snapshot& x);

} // namespace pulse
