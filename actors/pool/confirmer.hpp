#pragma once

#include "pulse/actors/pool/core.hpp"
#include "pulse/messages/pool.hpp"

namespace pulse {

class services;

/// Spawns a node's confirmer (event-based): group commit of its workers'
/// `confirm` calls. A request `(pcf_confirm_atom, args)` carries the
/// arguments of one worker's `confirm` script; the first goes out at once,
/// those arriving while a call is in flight go out together as one
/// `confirm_many` call (`EVALSHA` on the shared gateway; up to
/// `max_groups` workers, groups of more than `max_group_args` arguments
/// alone as `confirm`), each answered with its own group's reply. With
/// many workers each confirming a batch of one or two starts, this turns
/// thousands of script calls into a few (fencing is per group, as alone).
/// Errors: any gateway error, or `errc::redis_error` for a malformed
/// reply; every request of a failed call gets the error (the worker keeps
/// its starts in `unconfirmed` and retries, as before). Exits with its node.
pool_confirmer_actor spawn_pool_confirmer(services& rt, pool_core_ptr core);

} // namespace pulse
