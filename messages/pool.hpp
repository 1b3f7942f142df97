#pragma once

/// Messages of worker pools: the pool node actor (`actors/pool/node.hpp`),
/// worker actors (`actors/pool/worker.hpp`), user-supplied job actors, the
/// ticker (`actors/pool/ticker.hpp`) and the scheduler.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "pulse/messages/histogram.hpp"
#include "pulse/messages/options.hpp"
#include "pulse/messages/pool_options.hpp"
#include "pulse/messages/pubsub.hpp"
#include "pulse/messages/redis.hpp" // stats_atom

namespace pulse {

// -- atoms --------------------------------------------------------------------

/// `(job_start_atom, job) -> bool`: a worker starts a job.
using job_start_atom = caf::atom_constant<caf::atom("pl_start")>;
/// `(job_stop_atom, key) -> bool`: stops a job (worker or node).
using job_stop_atom = caf::atom_constant<caf::atom("pl_stop")>;
/// `(job_notify_atom, key, payload) -> bool`: a notification for a job.
using job_notify_atom = caf::atom_constant<caf::atom("pl_notify")>;
/// `(dispatch_atom, key, payload) -> bool`: dispatches a job.
using dispatch_atom = caf::atom_constant<caf::atom("pl_disp")>;
/// `(dispatch_at_atom, key, payload, unix_ms) -> due unix ms`: a delayed
/// job, started at that time (Redis' clock).
using dispatch_at_atom = caf::atom_constant<caf::atom("pl_dispat")>;

/// `(dispatch_in_atom, key, payload, delay) -> due unix ms`: a delayed job,
/// started `delay` from now (Redis' clock).
using dispatch_in_atom = caf::atom_constant<caf::atom("pl_dispin")>;

/// `(cancel_delayed_atom, key) -> bool`: deletes the key's delayed job.
using cancel_delayed_atom = caf::atom_constant<caf::atom("pl_dcancel")>;

/// `(dispatch_wait_atom, key, payload, timeout) -> result`: dispatches a
/// job and replies once it finished (see `pool_node::dispatch_and_wait`).
using dispatch_wait_atom = caf::atom_constant<caf::atom("pl_dwait")>;

/// `(job_complete_atom, job, ok, result) -> bool`: the job finished with a
/// result (`ok`) or a failure.
using job_complete_atom = caf::atom_constant<caf::atom("pl_cmpl")>;

/// `(job_result_atom, key) -> optional<job_outcome>`: the kept outcome of
/// a finished job.
using job_result_atom = caf::atom_constant<caf::atom("pl_result")>;

/// `(dead_jobs_atom, limit) -> vector<dead_job>`: the oldest `limit` jobs
/// of the pool's dead set.
using dead_jobs_atom = caf::atom_constant<caf::atom("pl_dead")>;
/// `(redrive_atom, keys) -> uint64_t`: moves dead jobs (all when `keys` is
/// empty) back into the pool; returns how many moved.
using redrive_atom = caf::atom_constant<caf::atom("pl_redrive")>;
/// `(purge_dead_atom, keys) -> uint64_t`: deletes dead jobs (all when
/// `keys` is empty); returns how many.
using purge_dead_atom = caf::atom_constant<caf::atom("pl_dpurge")>;

/// `(add_worker_atom, handler) -> worker ID`.
using add_worker_atom = caf::atom_constant<caf::atom("pl_addw")>;
/// `(remove_worker_atom, worker ID) -> bool`.
using remove_worker_atom = caf::atom_constant<caf::atom("pl_rmw")>;
/// `(workers_atom) -> vector<worker_info>`: this node's workers.
using workers_atom = caf::atom_constant<caf::atom("pl_wrks")>;
/// `(pool_workers_atom) -> vector<worker_info>`: every worker of the pool.
using pool_workers_atom = caf::atom_constant<caf::atom("pl_pwrks")>;
/// `(job_keys_atom) -> vector<string>`: keys of pending and running jobs.
using job_keys_atom = caf::atom_constant<caf::atom("pl_keys")>;
/// `(job_payload_atom, key) -> optional<string>`.
using job_payload_atom = caf::atom_constant<caf::atom("pl_payld")>;
/// `(close_atom) -> bool`: closes this node (jobs handed to others).
using close_atom = caf::atom_constant<caf::atom("pl_close")>;
/// `(shutdown_atom) -> bool`: stops the pool (`errc::closed` after a close).
using shutdown_atom = caf::atom_constant<caf::atom("pl_shut")>;
/// `(tick_atom, ticker name, unix ms) -> bool`: a tick delivered to the
/// ticker's subscriber, which replies when done (until then later ticks
/// coalesce into one).
using tick_atom = caf::atom_constant<caf::atom("pl_tick")>;

/// `(ticker_stop_atom)`: stops a ticker on every node (deletes the shared
/// entry). Exiting the actor instead stops it on this node only.
using ticker_stop_atom = caf::atom_constant<caf::atom("pl_tkstop")>;

/// `(schedule_atom, producer, interval) -> scheduler_actor`: starts a scheduler of the
/// pool on this node (see `spawn_scheduler`); exit it to stop it.
using schedule_atom = caf::atom_constant<caf::atom("pl_sched")>;

/// `(new_ticker_atom, name, period, receiver) -> ticker_actor`: starts a
/// ticker of the pool on this node (see `spawn_ticker`).
using new_ticker_atom = caf::atom_constant<caf::atom("pl_newtick")>;

// -- atoms between a node and its workers (internal) -------------------------

/// `(rebalance_atom)`: the membership changed; move jobs that now hash to
/// another worker.
using rebalance_atom = caf::atom_constant<caf::atom("pl_rebal")>;
/// `(fence_atom)`: the node's lease could not be renewed in time; stop
/// every job at once (another node may start them after the lease ends).
using fence_atom = caf::atom_constant<caf::atom("pl_fence")>;
/// `(resume_atom)`: the lease was renewed; hand over what was stopped.
using resume_atom = caf::atom_constant<caf::atom("pl_resume")>;
/// `(rejoin_atom)`: the worker was declared dead by another node; stop
/// every job and join again as a new member.
using rejoin_atom = caf::atom_constant<caf::atom("pl_rejoin")>;
/// `(close_atom, bool shutdown) -> bool`: stop polling and every job; hand
/// the jobs over unless `shutdown`.

// -- message types ------------------------------------------------------------

/// One job as a worker sees it.
struct job {
  /// The job's key (routing and identity).
  std::string key;
  /// The payload given to `dispatch`.
  std::string payload;
  /// The worker running it.
  std::string worker;
  /// The node that dispatched it (its dispatch result goes there).
  std::string node;
  /// Fencing epoch of this start: a later start of the same key (after a
  /// move or a failover) has a larger epoch.
  uint64_t epoch = 0;
  /// Which attempt this is: 1, then one more after each failed attempt
  /// (see `pool_options::max_attempts`).
  uint32_t attempt = 1;
};

/// Makes `job` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job& x) {
  return f(caf::meta::type_name("job"), x.key, x.payload, x.worker, x.node,
           x.epoch, x.attempt);
}

/// Options of one dispatch, overriding the pool's.
struct dispatch_options {
  /// Attempts before the dead set (see `pool_options::max_attempts`); -1:
  /// the pool's; 0: retries off for this job.
  int64_t max_attempts = -1;
  /// Execution timeout (see `pool_options::job_timeout`); negative: the
  /// pool's; 0: none for this job.
  caf::timespan timeout = caf::timespan{-1};
};

/// Makes `dispatch_options` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatch_options& x) {
  return f(caf::meta::type_name("dispatch_options"), x.max_attempts,
           x.timeout);
}

/// One failed attempt of a job, as kept in its history.
struct attempt_failure {
  /// The attempt (1, 2, ...).
  uint32_t attempt = 0;
  /// When it failed (Unix ms, Redis' clock).
  int64_t at = 0;
  /// The error's text.
  std::string error;
};

/// Makes `attempt_failure` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt_failure& x) {
  return f(caf::meta::type_name("attempt_failure"), x.attempt, x.at,
           x.error);
}

/// A job in the pool's dead set: its last attempt failed.
struct dead_job {
  /// The job's key.
  std::string key;
  /// Its payload.
  std::string payload;
  /// Attempts it made.
  uint32_t attempts = 0;
  /// When its last attempt failed (Unix ms, Redis' clock).
  int64_t died_at = 0;
  /// Its failures, oldest first (the last 10).
  std::vector<attempt_failure> failures;
};

/// Makes `dead_job` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dead_job& x) {
  return f(caf::meta::type_name("dead_job"), x.key, x.payload, x.attempts,
           x.died_at, x.failures);
}

/// How a finished job ended: its result, or its failure's text.
struct job_outcome {
  /// Whether it completed (`value` is its result) or failed (`value` is
  /// the error text).
  bool ok = false;
  /// The result or the error text.
  std::string value;
};

/// Makes `job_outcome` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_outcome& x) {
  return f(caf::meta::type_name("job_outcome"), x.ok, x.value);
}

/// A worker of the pool: its ID (a ULID), creation time (Unix ns, the
/// routing order) and node.
struct worker_info {
  /// The worker's ID (a ULID).
  std::string id;
  /// Creation time (Unix ns); workers are routed in this order.
  int64_t created_at = 0;
  /// The node running the worker.
  std::string node;
};

/// Makes `worker_info` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_info& x) {
  return f(caf::meta::type_name("worker_info"), x.id, x.created_at, x.node);
}

/// Counters of one pool node (all since it joined).
struct pool_stats {
  /// The pool's name.
  std::string pool;
  /// The node's ID (a ULID).
  std::string node;
  /// Dispatches through this node (actor, facade and schedulers).
  uint64_t dispatches = 0;
  /// Dispatches that completed with an error (the job exists, overloaded,
  /// timeout, closed, Redis errors).
  uint64_t dispatch_errors = 0;
  /// Jobs started by this node's workers.
  uint64_t starts = 0;
  /// Jobs stopped by this node's workers (requested stops, hand-overs,
  /// rebalancing, fencing, close).
  uint64_t stops = 0;
  /// Jobs this node's cleaner moved away from dead or removed workers.
  uint64_t failovers = 0;
  /// Jobs running on this node's workers right now.
  uint64_t running = 0;
  /// This node's workers right now.
  uint64_t workers = 0;
  /// Starts and stops waiting in this node's worker queues right now
  /// (`LLEN` of each queue when the stats are asked for).
  uint64_t queued = 0;
  /// Dispatches waiting for their worker's start right now.
  uint64_t pending_dispatches = 0;
  /// Time from a dispatch to its completion (the worker started the job,
  /// or the error).
  latency_histogram dispatch_latency;
};

/// Makes `pool_stats` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_stats& x) {
  return f(caf::meta::type_name("pool_stats"), x.pool, x.node, x.dispatches,
           x.dispatch_errors, x.starts, x.stops, x.failovers, x.running,
           x.workers, x.queued, x.pending_dispatches, x.dispatch_latency);
}

/// The plain C++ job handler interface (see `actors/pool/pool.hpp`).
class job_handler;
/// Shared handle on a handler.
using job_handler_ptr = std::shared_ptr<job_handler>;

/// A job producer (`actors/pool/scheduler.hpp`): its plan is reconciled
/// periodically by a scheduler.
class job_producer;

/// Shared handle on a job producer.
using job_producer_ptr = std::shared_ptr<job_producer>;

// -- actor interfaces ---------------------------------------------------------

/// The interface of a user-supplied job actor: replies `true`, or an error
/// (`errc::requeue` asks for redelivery later).
using job_actor = caf::typed_actor<
  caf::replies_to<job_start_atom, job>::with<bool>,
  caf::replies_to<job_stop_atom, std::string>::with<bool>,
  caf::replies_to<job_notify_atom, std::string, std::string>::with<bool>>;

/// What receives ticks: any actor answering `(tick_atom, name, ms)`.
using tick_receiver_actor = caf::typed_actor<
  caf::replies_to<tick_atom, std::string, int64_t>::with<bool>>;

/// A scheduler (`actors/pool/scheduler.hpp`): receives its ticker's ticks
/// and reconciles its producer's plan on the elected node. Exit it
/// (`send_exit`) to stop it.
using scheduler_actor = tick_receiver_actor;

/// A ticker (`actors/pool/ticker.hpp`): `ticker_stop_atom` stops it on every
/// node; exiting it stops it on this node only.
using ticker_actor = caf::typed_actor<caf::reacts_to<ticker_stop_atom>>;

/// A pool node. Every request is answered (errors as `caf::error` with a
/// `pulse::errc` code); see `spawn_pool_node`.
using pool_node_actor = caf::typed_actor<
  caf::replies_to<dispatch_atom, std::string, std::string>::with<bool>,
  caf::replies_to<dispatch_atom, std::string, std::string,
                  dispatch_options>::with<bool>,
  caf::replies_to<dead_jobs_atom, uint64_t>::with<std::vector<dead_job>>,
  caf::replies_to<redrive_atom, std::vector<std::string>>::with<uint64_t>,
  caf::replies_to<purge_dead_atom, std::vector<std::string>>::with<
    uint64_t>,
  caf::replies_to<dispatch_at_atom, std::string, std::string,
                  int64_t>::with<int64_t>,
  caf::replies_to<dispatch_in_atom, std::string, std::string,
                  caf::timespan>::with<int64_t>,
  caf::replies_to<cancel_delayed_atom, std::string>::with<bool>,
  caf::replies_to<dispatch_wait_atom, std::string, std::string,
                  caf::timespan>::with<std::string>,
  caf::replies_to<job_complete_atom, job, bool, std::string>::with<bool>,
  caf::replies_to<job_result_atom, std::string>::with<
    caf::optional<job_outcome>>,
  caf::replies_to<job_stop_atom, std::string>::with<bool>,
  caf::replies_to<job_notify_atom, std::string, std::string>::with<bool>,
  caf::replies_to<add_worker_atom, job_handler_ptr>::with<std::string>,
  caf::replies_to<add_worker_atom, job_actor>::with<std::string>,
  caf::replies_to<remove_worker_atom, std::string>::with<bool>,
  caf::replies_to<workers_atom>::with<std::vector<worker_info>>,
  caf::replies_to<pool_workers_atom>::with<std::vector<worker_info>>,
  caf::replies_to<job_keys_atom>::with<std::vector<std::string>>,
  caf::replies_to<job_payload_atom, std::string>::with<
    caf::optional<std::string>>,
  caf::replies_to<close_atom>::with<bool>,
  caf::replies_to<shutdown_atom>::with<bool>,
  caf::replies_to<new_ticker_atom, std::string, caf::timespan,
                  tick_receiver_actor>::with<ticker_actor>,
  caf::replies_to<schedule_atom, job_producer_ptr, caf::timespan>::with<
    scheduler_actor>,
  caf::replies_to<stats_atom>::with<pool_stats>>;


// -- internal atoms (between a package's own actors) -------------------------

/// `(tk_fire_atom, timer)`: a ticker's timer fired.
using tk_fire_atom = caf::atom_constant<caf::atom("tk_fire")>;

/// `(tk_join_atom)`: a ticker (re)reads its shared entry.
using tk_join_atom = caf::atom_constant<caf::atom("tk_join")>;

/// `(pw_requeue_atom)`: a worker moves starts refused with `errc::requeue`.
using pw_requeue_atom = caf::atom_constant<caf::atom("pw_requeue")>;

/// `(pw_timeout_atom, key, epoch)`: a job's execution timeout passed.
using pw_timeout_atom = caf::atom_constant<caf::atom("pw_timeout")>;

/// `(pw_retry_atom)`: a worker retries what failed while Redis was away.
using pw_retry_atom = caf::atom_constant<caf::atom("pw_retry")>;

/// `(pw_batch_atom, entries)`: the node's intake popped these entries from a
/// worker's queue (in order) for the worker's `pool_intake::want`.
using pw_batch_atom = caf::atom_constant<caf::atom("pw_batch")>;

/// `(pw_call_atom)`: a worker sends the Redis call it parked while running
/// on its node's intake thread.
using pw_call_atom = caf::atom_constant<caf::atom("pw_call")>;

/// `(pw_handover_atom)`: a closing worker tries to hand its jobs over again.
using pw_handover_atom = caf::atom_constant<caf::atom("pw_handov")>;

/// `(pw_completed_atom, key, epoch)`: the worker's node completed this job
/// (`complete` script): the worker forgets it without a stop, as on its
/// queue's `C` entry, which may come later (or never, if a failed poll
/// popped it).
using pw_completed_atom = caf::atom_constant<caf::atom("pw_cmpl")>;

/// `(pw_lost_atom, error)`: the intake's `BLMPOP` that included a worker's
/// queue failed; entries it popped may be lost, so the worker resyncs.
using pw_lost_atom = caf::atom_constant<caf::atom("pw_lost")>;

/// `(pi_arm_atom)`: a node's intake sends its next `BLMPOP` from its actor
/// (retry after a failure, or its gateway is not connected).
using pi_arm_atom = caf::atom_constant<caf::atom("pi_arm")>;

/// `(pcf_confirm_atom, arguments of `confirm`)`: a worker's `confirm`,
/// sent with the other workers' of its node in one call (`pool_confirmer`).
using pcf_confirm_atom = caf::atom_constant<caf::atom("pcf_conf")>;

/// `(cleanup_atom)`: a node cleaner runs a cleanup pass now (also runs
/// periodically).
using cleanup_atom = caf::atom_constant<caf::atom("pl_clean")>;

/// `(pn_keep_atom)`: a node renews its and its workers' leases.
using pn_keep_atom = caf::atom_constant<caf::atom("pn_keep")>;

/// `(pn_refresh_atom)`: a node runs the membership refresh it put off while
/// workers were added in a burst.
using pn_refresh_atom = caf::atom_constant<caf::atom("pn_refresh")>;

/// `(pn_fence_atom)`: a node checks whether its lease may have ended.
using pn_fence_atom = caf::atom_constant<caf::atom("pn_fence")>;

/// `(pn_done_atom, request, error)`: a dispatch completed (from the dispatcher,
/// on any thread); the node answers the request in its own context.
using pn_done_atom = caf::atom_constant<caf::atom("pn_done")>;

/// `(pn_waitn_atom)`: a shutting-down node checks whether the other nodes left.
using pn_waitn_atom = caf::atom_constant<caf::atom("pn_waitn")>;

/// `(pn_result_atom, request, result)`: a waited-for job finished (from the
/// dispatcher, on any thread); failures come as `pn_done_atom` errors.
using pn_result_atom = caf::atom_constant<caf::atom("pn_result")>;

/// `(pn_delay_atom, generation)`: a node promotes the delayed jobs that are
/// due (timers of older generations are ignored).
using pn_delay_atom = caf::atom_constant<caf::atom("pn_delay")>;

/// The pool node actor as implemented (`actors/pool/node.cpp`): its public
/// interface `pool_node_actor`, its own timers and dispatch completions,
/// and the messages of the pool channels it subscribes to (so it is a
/// `pubsub_subscriber_actor` without a cast).
using pool_node_impl_actor = pool_node_actor::extend<
  caf::reacts_to<pn_keep_atom>, caf::reacts_to<pn_fence_atom>,
  caf::reacts_to<pn_refresh_atom>,
  caf::reacts_to<pn_done_atom, uint64_t, caf::error>,
  caf::reacts_to<pn_waitn_atom>,
  caf::reacts_to<pn_result_atom, uint64_t, std::string>,
  caf::reacts_to<pn_delay_atom, uint64_t>>::
  extend_with<pubsub_subscriber_actor>;

/// `(pc_tick_atom)`: a node cleaner's periodic pass.
using pc_tick_atom = caf::atom_constant<caf::atom("pc_tick")>;

// -- internal actor interfaces ------------------------------------------------

/// A pool worker as its node drives it (`actors/pool/worker.hpp`).
using pool_worker_actor = caf::typed_actor<
  caf::reacts_to<rebalance_atom>, caf::reacts_to<fence_atom>,
  caf::reacts_to<resume_atom>, caf::reacts_to<rejoin_atom>,
  caf::reacts_to<pw_completed_atom, std::string, uint64_t>,
  caf::replies_to<close_atom, bool>::with<bool>>;

/// What the node's intake delivers to a worker (`actors/pool/intake.hpp`).
using pool_intake_client_actor = caf::typed_actor<
  caf::reacts_to<pw_batch_atom, std::vector<resp::value>>,
  caf::reacts_to<pw_lost_atom, caf::error>>;

/// A node's intake actor (`actors/pool/intake.hpp`): its retry timer; the
/// workers call the intake itself (`pool_intake`).
using pool_intake_actor = caf::typed_actor<caf::reacts_to<pi_arm_atom>>;

/// A node's confirmer (`actors/pool/confirmer.hpp`): answers with the
/// reply of `confirm` for the given arguments.
using pool_confirmer_actor = caf::typed_actor<
  caf::replies_to<pcf_confirm_atom, std::vector<std::string>>::with<
    resp::value>>;

/// A node's cleaner (`actors/pool/cleaner.hpp`).
using pool_cleaner_actor = caf::typed_actor<caf::reacts_to<cleanup_atom>>;

/// The ticker as implemented (`actors/pool/ticker.cpp`): `ticker_actor`
/// plus its timer and its retried join.
using ticker_impl_actor
  = ticker_actor::extend<caf::reacts_to<tk_fire_atom, uint64_t>,
                         caf::reacts_to<tk_join_atom>>;

/// A pool worker as implemented (`actors/pool/worker.cpp`):
/// `pool_worker_actor` plus its retry, job timeout, requeue and hand-over
/// timers, the batches its node's intake delivers and its parked calls.
using pool_worker_impl_actor = pool_worker_actor::extend<
  caf::reacts_to<pw_retry_atom>,
  caf::reacts_to<pw_batch_atom, std::vector<resp::value>>,
  caf::reacts_to<pw_lost_atom, caf::error>,
  caf::reacts_to<pw_timeout_atom, std::string, uint64_t>,
  caf::reacts_to<pw_requeue_atom>, caf::reacts_to<pw_call_atom>,
  caf::reacts_to<pw_handover_atom>>;

/// A node's cleaner as implemented (`actors/pool/cleaner.cpp`):
/// `pool_cleaner_actor` plus its periodic pass.
using pool_cleaner_impl_actor
  = pool_cleaner_actor::extend<caf::reacts_to<pc_tick_atom>>;

} // namespace pulse

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::job_handler_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::job_producer_ptr)
