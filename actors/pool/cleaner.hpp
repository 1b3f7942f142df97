#pragma once

#include <caf/actor.hpp>

#include "pulse/actors/pool/core.hpp"

namespace pulse {

class services;


/// Spawns the node cleaner of a full node, an event-based actor on the
/// scheduler whose Redis calls are awaited requests to the gateway. Every
/// `cleanup_period()`, and when poked with `cleanup_atom`, it runs `reap`:
/// under a pool-wide lease (`SET NX PX`, so one node at a time does the
/// work), workers and nodes whose lease ended on Redis time are removed
/// from the membership, and their jobs, plus jobs dispatched while no
/// worker existed, are moved to the worker their key hashes to now
/// (`move`, fenced by the membership revision). Errors are logged and
/// retried on the next pass.
pool_cleaner_actor spawn_pool_cleaner(services& rt, pool_core_ptr core);

} // namespace pulse
