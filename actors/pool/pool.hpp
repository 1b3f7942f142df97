#pragma once

/// Plain C++ facade of a worker-pool node, for code that is not an actor.
/// Actors talk to `actor()` (`pool_node_actor`, see `actors/pool/node.hpp`)
/// directly.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/optional.hpp>

#include "pulse/actors/pool/node.hpp"
#include "pulse/actors/pool/scheduler.hpp"
#include "pulse/messages/pool.hpp"
#include "pulse/actors/pool/core.hpp"
#include "pulse/actors/pool/handler.hpp"

namespace pulse {

class client;
class services;

/// One node of a worker pool. Thread-safe. Destroying it closes it.
class pool_node {
public:
  /// Joins pool `pool` as a new node (see `spawn_pool_node` for what runs).
  /// Errors: `errc::invalid_argument` (pool name, options),
  /// `errc::shutting_down`, Redis errors.
  static caf::expected<std::unique_ptr<pool_node>>
  add_node(services& rt, const std::string& pool, pool_options opts);

  /// Joins pool `pool` with the configured `[pulse.pool]` defaults
  /// (`pool_options::from(rt.opts().pool)`); see above.
  static caf::expected<std::unique_ptr<pool_node>>
  add_node(services& rt, const std::string& pool);

  ~pool_node();

  pool_node(const pool_node&) = delete;
  pool_node& operator=(const pool_node&) = delete;

  /// This node's ID (a ULID).
  const std::string& id() const noexcept { return core_->node; }
  /// The pool's name.
  const std::string& pool() const noexcept { return core_->pool; }
  /// The node actor.
  const pool_node_actor& actor() const noexcept { return actor_; }

  /// Adds a worker running `handler`; returns its ID. Redis: `add_worker`
  /// script (membership change: every node rebalances). Errors:
  /// `errc::invalid_argument` on a client-only node, `errc::closed`.
  caf::expected<std::string> add_worker(job_handler_ptr handler);
  /// Adds a worker whose jobs run in the user's actor `hdl`.
  caf::expected<std::string> add_worker(job_actor hdl);
  /// Adds `n` workers running `handler` (shared by them) at once: the `n`
  /// `add_worker` scripts are in flight together, so this takes about one
  /// round trip instead of `n`. Returns their IDs. All or nothing: on the
  /// first error the workers added by this call are removed again and the
  /// error is returned (`errc::invalid_argument` on a client-only node or a
  /// null handler, `errc::closed`, Redis errors).
  caf::expected<std::vector<std::string>> add_workers(job_handler_ptr handler,
                                                      size_t n);
  /// Stops a local worker and hands its jobs to the others. Errors:
  /// `errc::not_found`.
  caf::error remove_worker(const std::string& id);

  /// Dispatches job `key` and returns once the owning worker's start
  /// returned. One `dispatch` script (`EVALSHA`); the result arrives on
  /// this node's channel. Errors: `errc::invalid_argument` (empty key or
  /// `=`), `errc::job_exists` (pending or running), `errc::overloaded`
  /// (`max_queued_jobs` reached: nothing was queued),
  /// `errc::handler_failed` (the start's error text), `errc::timeout`
  /// (no start within `2 * ack_grace_period`; the job stays queued),
  /// `errc::closed`, `errc::shutting_down`, Redis errors. With retries on
  /// (`max_attempts`), a failed start that will be retried returns no
  /// error. `opts` overrides the pool's attempts and timeout for this job
  /// (kept in the pool's `tries` hash while the job lives).
  caf::error dispatch(const std::string& key, const std::string& payload,
                      const dispatch_options& opts = {});
  /// Dispatches without blocking: `done` runs once with the same result
  /// `dispatch` would return (on a Pulse thread: keep it short). Concurrent
  /// dispatches of a node are group-committed: one `dispatch_many` script
  /// per batch.
  void dispatch_async(const std::string& key, const std::string& payload,
                      std::function<void(caf::error)> done,
                      const dispatch_options& opts = {});
  /// Dispatches job `key` and returns its result once it finished: a
  /// `task_handler`'s `run` returned, or someone called `complete_job`
  /// (same `dispatch_many` script, then the completion record on this
  /// node's channel). Errors: as `dispatch`, plus `errc::handler_failed`
  /// with the failure's text (a failed start or `fail_job`),
  /// `errc::timeout` when no outcome came within `timeout` (the job goes
  /// on; `job_result` reads its outcome later). With retries on, failed
  /// attempts are retried and only the final outcome is returned (a dead
  /// job's last error as `errc::handler_failed`).
  caf::expected<std::string> dispatch_and_wait(const std::string& key,
                                               const std::string& payload,
                                               caf::timespan timeout,
                                               const dispatch_options& opts
                                               = {});
  /// Like `dispatch_and_wait` without blocking: `done` runs once with the
  /// result or error (on a Pulse thread: keep it short).
  void dispatch_for_result(
    const std::string& key, const std::string& payload, caf::timespan timeout,
    std::function<void(caf::expected<std::string>)> done,
    const dispatch_options& opts = {});
  /// Completes job `j` (as its handler received it) with `result`: the
  /// job leaves the pool (its worker forgets it without calling stop), the
  /// outcome is kept for `result_retention` and reaches a waiting
  /// dispatcher. Called before `start` returned, the worker also calls
  /// `stop` for the job afterwards (a `task_handler` avoids that).
  /// Redis: `complete` script. Errors: `errc::not_found` if the job was
  /// stopped, moved or finished meanwhile (at-least-once: it may run
  /// again elsewhere), Redis errors.
  caf::error complete_job(const job& j, const std::string& result);
  /// Like `complete_job`, ending the job as failed with `error` (the
  /// waiting dispatcher gets `errc::handler_failed` with it).
  caf::error fail_job(const job& j, const std::string& error);
  /// The kept outcome of finished job `key` (`GET`); none once
  /// `result_retention` passed or if it never finished.
  caf::expected<caf::optional<job_outcome>>
  job_result(const std::string& key);
  /// Dispatches job `key` at time `at` (Redis' clock; a time in the past:
  /// at once). The job is kept in Redis (`schedule_job` script: `ZADD` to
  /// the pool's `delayed` set), survives node and Redis restarts (with
  /// Redis persistence) and starts once: when it is due, one full node of
  /// the pool turns it into a normal job (`promote` script), routed like
  /// `dispatch`. Nobody waits for that start: the call returns once the
  /// job is stored, with its due time (Unix ms). If the key is pending or
  /// running when due, it starts once that job is gone (checked every
  /// `requeue_delay`). `cancel_delayed(key)` deletes it. Errors:
  /// `errc::invalid_argument`, `errc::job_exists` (the key already has a
  /// delayed job), `errc::closed`, `errc::shutting_down`, Redis errors.
  caf::expected<int64_t>
  dispatch_at(const std::string& key, const std::string& payload,
              std::chrono::system_clock::time_point at);
  /// Like `dispatch_at`, due `delay` from now on Redis' clock (so clocks of
  /// the nodes need not agree). Errors: also `errc::invalid_argument` for a
  /// negative delay.
  caf::expected<int64_t> dispatch_in(const std::string& key,
                                     const std::string& payload,
                                     caf::timespan delay);
  /// Deletes the delayed job of `key` before it is due (`cancel_delayed`
  /// script). Errors: `errc::not_found` (no delayed job of that key).
  caf::error cancel_delayed(const std::string& key);
  /// The oldest `limit` jobs of the pool's dead set (jobs whose last
  /// attempt failed, with their failures; `dead_jobs` script).
  caf::expected<std::vector<dead_job>> dead_jobs(uint64_t limit = 100);
  /// Moves dead jobs (those named; all when `keys` is empty) back into the
  /// pool: each starts again at once with its attempts reset (`redrive`
  /// script); a key that is pending, running or delayed again is skipped.
  /// Returns how many moved. Errors: Redis errors.
  caf::expected<uint64_t> redrive(const std::vector<std::string>& keys = {});
  /// Deletes dead jobs (those named; all when `keys` is empty;
  /// `purge_dead` script). Returns how many. Errors: Redis errors.
  caf::expected<uint64_t>
  purge_dead(const std::vector<std::string>& keys = {});
  /// Stops job `key` wherever it runs and forgets it (`stop` script); a
  /// job waiting for a retry is cancelled. Errors: `errc::not_found`.
  caf::error stop_job(const std::string& key);
  /// Sends a notification to the worker running `key` (`notify` script).
  /// Errors: `errc::not_found` (no such job, or no worker owns it yet).
  caf::error notify_worker(const std::string& key, const std::string& payload);

  /// Keys of every pending or running job of the pool (`HKEYS`).
  caf::expected<std::vector<std::string>> job_keys();
  /// A job's payload (`HGET`), none if there is no such job.
  caf::expected<caf::optional<std::string>> job_payload(const std::string& key);
  /// This node's workers.
  caf::expected<std::vector<worker_info>> workers();
  /// Every worker of the pool, in routing order.
  caf::expected<std::vector<worker_info>> pool_workers();

  /// Creates (or joins) the pool-wide ticker `name`: every `period` one
  /// node of the pool sends `(tick_atom, name, unix_ms)` to its receiver
  /// (see `spawn_ticker`). Send `ticker_stop_atom` to the returned actor to
  /// stop it on every node; exit it to stop it here only. Errors:
  /// `errc::invalid_argument` (name, period, client-only node).
  caf::expected<caf::actor> new_ticker(const std::string& name,
                                       caf::timespan period,
                                       tick_receiver_actor receiver);
  /// Like above, calling `fn(unix_ms)` on a thread of the actor system.
  caf::expected<caf::actor> new_ticker(const std::string& name,
                                       caf::timespan period,
                                       std::function<void(int64_t)> fn);
  /// Reconciles `producer`'s plan every `interval` on one node of the pool
  /// (see `spawn_scheduler`). Errors: `errc::invalid_argument`.
  caf::expected<scheduler_actor> schedule(job_producer_ptr producer,
                                          caf::timespan interval);

  /// Closes this node: its workers stop their jobs and hand them to the
  /// pool's other workers (or leave them queued for the next worker).
  /// Idempotent; always succeeds.
  caf::error close();
  /// Stops every job on every node and deletes the pool's keys once the
  /// other nodes left (or their leases ended); returns after this node's
  /// jobs stopped and the keys are deleted. Idempotent. Errors:
  /// `errc::closed` after `close` (a closed node no longer speaks for the
  /// pool: shut it down from a node still in it).
  caf::error shutdown();
  /// Dispatches of this node still waiting for their result (for
  /// monitoring; it returns to 0 once results or timeouts arrived).
  size_t waiting_dispatches() const { return core_->waiters(); }

  /// Whether `close` or `shutdown` began (here or, for shutdown, anywhere).
  bool is_closed() const noexcept { return core_->closing; }

private:
  pool_node(services& rt, pool_node_handle h);

  template <class R, class... Ts>
  caf::expected<R> call(Ts&&... xs);

  /// Sends `close` or `shutdown` once (later calls return `none`, except a
  /// shutdown after a close: `errc::closed`); a node already gone counts as
  /// done.
  template <class Atom>
  caf::error finish(Atom what);

  services& rt_;
  pool_node_actor actor_;
  pool_core_ptr core_;
  std::mutex mtx_;
  /// Whether `close` or `shutdown` was sent (guarded by `mtx_`).
  bool closed_ = false;
  bool shut_down_ = false;
  dispatcher_ptr disp_;
};

} // namespace pulse
