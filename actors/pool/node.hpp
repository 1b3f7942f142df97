#pragma once

#include <string>

#include <caf/expected.hpp>

#include "pulse/messages/pool.hpp"
#include "pulse/actors/pool/core.hpp"
#include "pulse/actors/pool/dispatcher.hpp"

namespace pulse {

class services;

/// A spawned pool node: its typed handle, its shared state and its
/// dispatcher (the node actor and the plain C++ facade `pool_node` both
/// dispatch through it).
struct pool_node_handle {
  /// The node actor.
  pool_node_actor actor;
  /// The node's shared state.
  pool_core_ptr core;
  /// The node's dispatcher.
  dispatcher_ptr disp;
};

/// Joins pool `pool` as a new node (ID: a ULID) and spawns its actor.
///
/// Before returning it registers the node's lease (`join_node`), reads the
/// membership and subscribes to the pool's control channel and to the
/// node's result channel (dispatch results are delivered straight from
/// the pub/sub reader thread). A full node (not `client_only`) also spawns
/// its node cleaner (`actors/pool/cleaner.hpp`).
///
/// The node actor then:
/// - renews its lease and its workers' leases every `worker_ttl / 3`
///   (`keepalive`); if a renewal is late, its workers stop their jobs at
///   once (fencing) and hand them over once Redis answers again; workers
///   another node declared dead stop their jobs and rejoin;
/// - refreshes the membership on every change notice and tells its
///   workers to rebalance;
/// - answers the `pool_node_actor` requests: dispatch (replies once the
///   worker's start returned: `true`, or `errc::handler_failed` with the
///   handler's error text, `errc::job_exists`, `errc::overloaded`,
///   `errc::timeout` after `2 * ack_grace_period`, `errc::closed`,
///   `errc::shutting_down`), stop and notify (`errc::not_found` for an
///   unknown key, notify: `errc::not_found` too while no worker owns it
///   yet), add/remove worker, introspection, `close` (hands every job to
///   other workers; always succeeds) and `shutdown` (stops every job on
///   every node, waits for the other nodes up to `worker_ttl`, then deletes
///   every key of the pool; `errc::closed` once `close` began here).
///
/// Errors: `errc::invalid_argument` for an invalid pool name,
/// `errc::shutting_down` while the pool shuts down, Redis errors.
caf::expected<pool_node_handle> spawn_pool_node(services& rt,
                                                const std::string& pool,
                                                pool_options opts);

} // namespace pulse
