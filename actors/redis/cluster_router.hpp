#pragma once

#include <caf/fwd.hpp>

#include "pulse/messages/options.hpp"
#include "pulse/messages/redis.hpp"

namespace pulse {

/// Spawns the Redis Cluster router: an actor with the gateway interface
/// (`gateway_actor`) in front of one ordinary gateway (`spawn_gateway`,
/// same `role`) per cluster node. Only spawned with `redis_options::cluster`;
/// the single-node path never sees it.
///
/// - Topology: reads `CLUSTER SLOTS` from a known master, a known replica
///   or a seed (`host`/`port`, then `cluster_nodes`) before the first
///   request and
///   again after a `MOVED`, a lost connection (`errc::disconnected`,
///   `errc::connect_failed`) or a `CLUSTERDOWN` reply; requests wait for
///   the first table (and fail with the last error when no seed answers).
/// - Routing: a command goes to the master owning the slot of its first key
///   (`cluster::key_positions`: `EVAL`/`EVALSHA` by their first declared
///   key, `XREAD`/`XREADGROUP` by the first stream, `BLMPOP` by its first
///   list); keyless commands (`PING`, `PUBLISH`, `SCAN`, ...) go to the
///   table's first master, and once a connect to it failed (nothing was
///   sent: the command is sent again) to the next master, where they stay
///   (use `each_master_atom` or `scan_keys_atom` to reach all of them). A
///   script runs on the master of its first key; a script whose keys are in
///   different slots fails at once with `errc::invalid_argument` naming the
///   script (its first Lua line and SHA-1) and each key with its slot,
///   instead of a `CROSSSLOT` round trip. A batch is split by node (keyless
///   commands join the node of the batch's first keyed command, so a
///   `MULTI` ... `EXEC` on one key stays together); each part keeps its
///   order.
/// - Redirects: `MOVED` updates the slot's owner, schedules a refresh and
///   sends the request again there; `ASK` sends `ASKING` and the request
///   once to the named node without changing the table. At most 5
///   redirects per request, then the last error. `TRYAGAIN` (a request of
///   several keys while their slot migrates; Redis ran nothing) is sent
///   again to the slot's owner every `reconnect_min`, its redirects counted
///   anew, until `command_timeout` after the request arrived, then the
///   error.
/// - `(each_master_atom, command)` sends the command to every master that
///   serves slots (in parallel) and answers their replies in slot-table
///   order; `(scan_keys_atom, scan_query)` walks every such master's
///   `SCAN` cursor to its end (or `max_rounds`) and answers all keys,
///   sorted, each once. Either fails with the first node's failure (a lost
///   connection also refreshes the table).
/// - `cancel_atom` goes to every node's gateway; `stats_atom` answers the
///   sum of all nodes' counters; `direct_atom` answers a null handle (no
///   direct entry in cluster mode: blocking callers use messages).
/// - Exiting the router exits every node gateway.
/// - Its behaviour is checked against `cluster_router_actor`
///   (`messages/cluster.hpp`: the gateway interface plus the router's own
///   timers); callers get the `gateway_actor` part.
gateway_actor spawn_cluster_gateway(caf::actor_system& sys,
                                    const redis_options& opts,
                                    gateway_role role
                                    = gateway_role::pipelined);

} // namespace pulse
