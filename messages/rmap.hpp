#pragma once

/// Messages of replicated-map replicas (`actors/rmap/replica.hpp`).

#include <cstdint>
#include <string>
#include <vector>

#include <chrono>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "pulse/messages/histogram.hpp"
#include "pulse/messages/options.hpp"
#include "pulse/messages/pubsub.hpp" // sub_atom, unsub_atom, resub_atom, pubsub_message
#include "pulse/messages/redis.hpp"  // stats_atom

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

/// `(map_write_atom, map_write) -> map_write_result`: runs one write
/// (any Go Pulse operation) on the map's Redis hash, as its Lua script.
using map_write_atom = caf::atom_constant<caf::atom("map_write")>;

/// `(map_get_atom, key) -> caf::optional<std::string>`: reads the local
/// copy (no Redis round trip).
using map_get_atom = caf::atom_constant<caf::atom("map_get")>;

// -- options ------------------------------------------------------------------

/// Options of a replicated map (`rmap::map::join`, `spawn_replica`).
struct map_options {
  /// TTL of the hash; zero means none. Applied inside every mutation
  /// script: absolute (`PEXPIRE ... NX`, not restarted by reset/destroy)
  /// or sliding (refreshed by every mutation).
  caf::timespan ttl{0};
  /// Whether every mutation refreshes the TTL.
  bool sliding_ttl = false;
  /// Run the replica on a thread of its own instead of the scheduler's
  /// threads (for programs whose scheduler threads are kept busy by other
  /// actors); see `spawn_replica`.
  bool dedicated_thread = false;
  /// Maximum time `join` waits for the subscription and the snapshot.
  caf::timespan join_timeout = rmap_defaults{}.join_timeout;
  /// A subscriber that has not answered a notification for this long is
  /// named in a warning (again every period).
  caf::timespan slow_subscriber = rmap_defaults{}.slow_subscriber;

  /// Returns options with the `[pulse.rmap]` defaults.
  static map_options from(const rmap_defaults& d) {
    map_options r;
    r.join_timeout = d.join_timeout;
    r.slow_subscriber = d.slow_subscriber;
    return r;
  }
};

// -- message types ------------------------------------------------------------

/// Kinds of map notifications, as in Go Pulse (a destroy reports `reset`).
enum class map_event_kind : uint8_t {
  change = 1,
  del = 2,
  reset = 3,
};

/// One applied change, for detailed subscribers.
struct map_change {
  /// What happened: a change, a deletion or a reset.
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

/// Makes `map_change` serializable for CAF messages.
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
  /// The name of the map.
  std::string map;
  /// The changes, in revision order.
  std::vector<map_change> changes;
};

/// Makes `map_changes` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_changes& x) {
  return f(caf::meta::type_name("map_changes"), x.map, x.changes);
}

/// The writes of a replicated map: every mutation Go Pulse offers.
enum class map_op : uint8_t {
  /// `args = {value}`; result: `prev`, `rev`.
  set,
  /// `args = {value}`; result: `done` (whether it was set).
  set_if_not_exists,
  /// `args = {test, value}`; result: `prev`, `done` (prev == test).
  test_and_set,
  /// `args = {delta}` (decimal); result: `number` (the new value).
  inc,
  /// `args = items`; result: `values` (the list after the append).
  append_values,
  /// `args = items` (added if absent); result: `values`.
  append_unique_values,
  /// `args = items`; result: `values` (remaining; `present` false once the
  /// key is gone), `done` (whether anything was removed).
  remove_values,
  /// `args = {}`; result: `prev`, `done` (whether the key existed).
  del,
  /// `args = {test}`; result: `prev`, `done` (prev == test).
  test_and_delete,
  /// Empties the map (no key); allowed after close, as in Go Pulse.
  reset,
  /// Deletes the hash (no key); allowed after close.
  destroy,
  /// `key` empty, `args = keys..., tests...` (as many of each); result:
  /// `done` (whether every key held its test value and the map was reset).
  test_and_reset,
};

/// Returns the Go Pulse name of `x`, e.g. `"test_and_set"`.
const char* to_string(map_op x);

/// One write to a replicated map, as a message.
struct map_write {
  /// The operation.
  map_op op = map_op::set;
  /// The field; empty for `reset`, `destroy` and `test_and_reset`.
  std::string key;
  /// The operation's arguments (see `map_op`).
  std::vector<std::string> args;
};

/// Makes `map_write` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_write& x) {
  return f(caf::meta::type_name("map_write"), x.op, x.key, x.args);
}

/// What a write returned; which fields are set depends on the operation
/// (see `map_op`).
struct map_write_result {
  /// The value before the write, if the key existed.
  caf::optional<std::string> prev;
  /// Whether a conditional write happened (see `map_op`).
  bool done = false;
  /// The map's revision after a `set`.
  uint64_t rev = 0;
  /// The new value of an `inc`.
  int64_t number = 0;
  /// The list after `append_values`, `append_unique_values`,
  /// `remove_values`.
  std::vector<std::string> values;
  /// For `remove_values`: whether the key still exists.
  bool present = false;
};

/// Makes `map_write_result` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_write_result& x) {
  return f(caf::meta::type_name("map_write_result"), x.prev, x.done, x.rev,
           x.number, x.values, x.present);
}

/// Counters of a replica.
struct replica_stats {
  /// The replica's current revision.
  uint64_t rev = 0;
  /// Notifications applied (by the actor or by the fast path).
  uint64_t applied = 0;
  /// Notifications skipped as duplicates or covered by a snapshot.
  uint64_t ignored = 0;
  /// Snapshots loaded with `HGETALL` (the join included).
  uint64_t resyncs = 0;
  /// Revision gaps or regressions seen; each triggers a resync.
  uint64_t gaps = 0;
  /// Notifications that could not be decoded (dropped).
  uint64_t malformed = 0;
  /// Coarse and detailed subscribers right now.
  uint64_t subscribers = 0;
  /// Delays from this process' own `set` writes to the apply of their
  /// revision (`propagation_probe` in actors/rmap/propagation.hpp).
  latency_histogram propagation;
  /// Own `set` writes whose delay could not be measured.
  uint64_t propagation_unmatched = 0;
};

/// Makes `replica_stats` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_stats& x) {
  return f(caf::meta::type_name("replica_stats"), x.rev, x.applied,
           x.ignored, x.resyncs, x.gaps, x.malformed, x.subscribers,
           x.propagation, x.propagation_unmatched);
}

// -- actor interface ----------------------------------------------------------

/// A coarse map subscriber: answers `(map_event_atom, name, kind)` with
/// `true` ("the map changed, read it"; notifications coalesce meanwhile).
using map_event_subscriber_actor = caf::typed_actor<
  caf::replies_to<map_event_atom, std::string, map_event_kind>::with<bool>>;

/// A detailed map subscriber: answers every `map_changes` with `true`.
using map_changes_subscriber_actor
  = caf::typed_actor<caf::replies_to<map_changes>::with<bool>>;

/// A replica: keeps this process' copy of one map current. Subscribe a
/// `map_event_subscriber_actor` for coalesced `(map_event_atom, name, kind)`
/// requests or a `map_changes_subscriber_actor` for every change.
using replica_actor = caf::typed_actor<
  caf::replies_to<wait_rev_atom, uint64_t>::with<uint64_t>,
  caf::replies_to<sub_atom, map_event_subscriber_actor>::with<bool>,
  caf::replies_to<sub_atom, map_changes_subscriber_actor>::with<bool>,
  caf::replies_to<unsub_atom, map_event_subscriber_actor>::with<bool>,
  caf::replies_to<unsub_atom, map_changes_subscriber_actor>::with<bool>,
  caf::replies_to<resync_atom>::with<uint64_t>,
  caf::replies_to<stats_atom>::with<replica_stats>,
  caf::replies_to<map_write_atom, map_write>::with<map_write_result>,
  caf::replies_to<map_get_atom, std::string>::with<caf::optional<std::string>>>;


// -- internal atoms (between a package's own actors) -------------------------

/// `(rp_retry_atom)`: a replica retries its join or resync.
using rp_retry_atom = caf::atom_constant<caf::atom("rp_retry")>;

/// `(rp_applied_atom, change)`: the fast path applied a change; the replica
/// notifies.
using rp_applied_atom = caf::atom_constant<caf::atom("rp_applied")>;

/// `(rp_watch_atom)`: a replica checks for subscribers that have not answered.
using rp_watch_atom = caf::atom_constant<caf::atom("rp_watch")>;

/// The replica actor as implemented (`actors/rmap/replica.cpp`): its public
/// interface `replica_actor`, its own retry, apply and watch messages, and
/// the messages of the map's channel it subscribes to (so it is a
/// `pubsub_subscriber_actor` without a cast).
using replica_impl_actor = replica_actor::extend<
  caf::reacts_to<rp_retry_atom>, caf::reacts_to<rp_applied_atom, map_change>,
  caf::reacts_to<rp_watch_atom>>::extend_with<pubsub_subscriber_actor>;

} // namespace pulse

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::map_options)
