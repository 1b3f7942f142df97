#pragma once

/// Messages of replicated-map replicas (`actors/rmap/replica.hpp`).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/pubsub.hpp" // sub_atom, unsub_atom, resub_atom, pubsub_message
#include "messages/redis.hpp"  // stats_atom

namespace pulse {

// -- atoms --------------------------------------------------------------------

/// `(wait_rev_atom, rev) -> uint64_t`: replies (with the local revision)
/// once the replica applied revision `rev` or a later one.
using wait_rev_atom = caf::atom_constant<caf::atom("wait_rev")>;

/// `(map_event_atom, map_name, map_event_kind)`: sent (as a request; reply
/// `true`) to coarse subscribers. Notifications coalesce while the
/// subscriber has not replied, and then report the strongest kind
/// (reset > delete > change): "the map changed, read it".
using map_event_atom = caf::atom_constant<caf::atom("map_event")>;

/// `(resync_atom) -> uint64_t`: reloads the hash now (also done on gaps).
using resync_atom = caf::atom_constant<caf::atom("resync")>;

// -- message types ------------------------------------------------------------

/// Kinds of map notifications, as in Go Pulse (a destroy reports `reset`).
enum class map_event_kind : uint8_t {
  change = 1,
  del = 2,
  reset = 3,
};

/// One applied change, for detailed subscribers.
struct map_change {
  map_event_kind kind = map_event_kind::change;
  /// The key (empty for reset).
  std::string key;
  /// Value before the change (empty if absent).
  std::string old_value;
  /// Value after the change (empty for del/reset).
  std::string new_value;
  /// Whether the key existed before / exists after.
  bool existed = false;
  /// The revision this change produced.
  uint64_t rev = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_change& x) {
  return f(caf::meta::type_name("map_change"), x.kind, x.key, x.old_value,
           x.new_value, x.existed, x.rev);
}

/// Changes sent (as a request; reply `true`) to detailed subscribers, in
/// revision order. While a subscriber has not replied, changes queue up to
/// a bound; past it they are replaced by one `reset` change ("re-read the
/// map").
struct map_changes {
  std::string map;
  std::vector<map_change> changes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_changes& x) {
  return f(caf::meta::type_name("map_changes"), x.map, x.changes);
}

/// Counters of a replica.
struct replica_stats {
  uint64_t rev = 0;
  uint64_t applied = 0;
  uint64_t ignored = 0;
  uint64_t resyncs = 0;
  uint64_t gaps = 0;
  uint64_t malformed = 0;
  uint64_t subscribers = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_stats& x) {
  return f(caf::meta::type_name("replica_stats"), x.rev, x.applied,
           x.ignored, x.resyncs, x.gaps, x.malformed, x.subscribers);
}

// -- actor interface ----------------------------------------------------------

/// A replica: keeps this process' copy of one map current. Subscribe with
/// `(sub_atom, actor, detailed)`: `detailed == false` gets coalesced
/// `(map_event_atom, name, kind)` requests, `true` gets `map_changes`.
using replica_actor = caf::typed_actor<
  caf::replies_to<wait_rev_atom, uint64_t>::with<uint64_t>,
  caf::replies_to<sub_atom, caf::actor, bool>::with<bool>,
  caf::replies_to<unsub_atom, caf::actor>::with<bool>,
  caf::replies_to<resync_atom>::with<uint64_t>,
  caf::replies_to<stats_atom>::with<replica_stats>>;

} // namespace pulse
