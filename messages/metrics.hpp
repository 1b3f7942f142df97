#pragma once

/// What the metrics endpoint (`runtime/metrics.hpp`) needs to find the live
/// actors whose counters it collects: each package announces the readers,
/// sinks, replicas and pool nodes it spawns through `services::announce`.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>

namespace pulse {

/// What kind of actor a metrics source is, i.e. which stats it answers to
/// `(stats_atom)`.
enum class metrics_kind : uint8_t {
  /// A `reader_actor` (`stream_stats`).
  reader,
  /// A `sink_actor` (`stream_stats`).
  sink,
  /// A `replica_actor` (`replica_stats`).
  replica,
  /// A `pool_node_actor` (`pool_stats`).
  pool_node,
};

/// A live actor whose stats the metrics endpoint collects. The address is
/// weak: a source that terminated is skipped and forgotten.
struct metrics_source {
  /// Which stats it answers.
  metrics_kind kind = metrics_kind::reader;
  /// The sink's, map's or pool's name; empty for readers.
  std::string name;
  /// The streams a reader or sink was spawned with.
  std::vector<std::string> streams;
  /// The actor.
  caf::actor_addr addr;
};

} // namespace pulse
