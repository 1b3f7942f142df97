#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>

#include "pulse/actors/pool/core.hpp"
#include "pulse/actors/pool/handler.hpp"
#include "pulse/actors/pool/intake.hpp"

namespace pulse {

class services;

/// Spawns a pool worker that must already be a member of the pool
/// (`pool_scripts::add_worker`): an event-based actor on the scheduler's
/// threads, or on a thread of its own if `detached` (for handlers that
/// block, `pool_options::detached_workers`, `job_handler::blocks`). It
/// never blocks on Redis: every call is a request to the runtime's gateway,
/// and while one is in flight later messages wait (`await`), so entries are
/// still handled in order and every fencing rule holds.
///
/// - Gets the entries of its queue `pulse:pool:{P}:q:<id>` from its node's
///   `intake` (`spawn_pool_intake`: one `BLMPOP ... COUNT` connection for
///   all the node's queues), so many queued starts cost one round trip: it
///   asks for a batch (`pool_intake::want`), handles the entries in order,
///   and asks again (before handling a batch while handlers are quick,
///   after it otherwise). A single entry is handled right on the intake's
///   reader thread (under the worker's mutex) when the worker is idle and
///   its last batch took under 5 ms, which saves a thread hop per start
///   (its Redis calls, usually just the `confirm`, are parked and sent by
///   the actor: `pw_call_atom`); other batches come as
///   `(pw_batch_atom, entries)`. A lost batch
///   (`pw_lost_atom`) makes it resync its queue.
/// - Starts: with a valid lease, checks that the key still hashes to it
///   (otherwise moves the job with `move`, fenced by epoch and membership
///   revision), calls `handler->start`, then confirms the batch with
///   `confirm`, which also publishes each result to the dispatcher's node
///   channel and returns the jobs that changed meanwhile (stopped at once).
///   A start refused with `errc::requeue` is moved again after
///   `requeue_delay`; other errors drop the job and fail the dispatch with
///   their text. After a failed poll it rebuilds its queue (`resync`).
/// - Stops and notifications apply only to the epoch it runs.
/// - Handles `rebalance_atom`, `fence_atom`, `resume_atom`, `rejoin_atom`,
///   `(pw_completed_atom, key, epoch)` (its node completed that job: forget
///   it without a stop, as on a `C` queue entry) and
///   `(close_atom, bool shutdown) -> bool` from its node; close answers
///   once the hand-over (attempts with timers in between, no sleep) ended.
///
/// Redis errors are logged and retried with back-off; nothing is dropped:
/// a job it cannot start stays owned by it and is recovered by a cleaner
/// once its lease ends. Its `confirm` calls go through the node's
/// `confirmer` (one call for the confirms of many workers).
pool_worker_actor spawn_pool_worker(services& rt, pool_core_ptr core,
                                    pool_intake_ptr intake,
                                    pool_confirmer_actor confirmer,
                                    std::string id,
                                    int64_t created_ns,
                                    job_handler_ptr handler, bool detached);

} // namespace pulse
