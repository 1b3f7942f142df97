#pragma once

/// Internal to the pool worker: its state, shared by the actor
/// (`worker.cpp`), its queue intake (`worker_queue.cpp`: batches of its
/// queue from the node's intake, `intake.hpp`, and the resync after a failed
/// poll) and its job life cycle (`worker_jobs.cpp`: start,
/// confirm, stop, notify, requeue, hand-over, rebalance, fence, close).

#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/pool/core.hpp"
#include "pulse/actors/pool/handler.hpp"
#include "pulse/actors/pool/intake.hpp"
#include "pulse/actors/pool/job_moves.hpp"
#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/messages/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::worker_detail {

/// How long a worker's last batch may have taken for the intake to hand it
/// the next single-entry batch on its reader thread (`take_inline`).
constexpr auto inline_budget = std::chrono::milliseconds{5};

/// A job's key and epoch.
using key_epoch = std::pair<std::string, uint64_t>;

/// What runs after an asynchronous step of the worker.
using cont = std::function<void()>;
/// A step of the worker's sequence: does its work (possibly waiting for
/// Redis replies), then calls its continuation exactly once.
using step = std::function<void(cont)>;
/// Takes the reply (or the error) of a Redis call.
using reply_fn = std::function<void(caf::expected<resp::value>)>;
/// Takes whether an asynchronous operation succeeded.
using ok_fn = std::function<void(bool)>;

/// State of a pool worker actor.
struct worker_state : pool_io {
  /// Creates the state; `intake` is the node's intake.
  worker_state(pool_worker_impl_actor::pointer self, services& rt,
               pool_core_ptr core, pool_intake_ptr intake, std::string id,
               int64_t created_ns, job_handler_ptr handler)
    : self(self),
      core(std::move(core)),
      id(std::move(id)),
      created_ns(created_ns),
      handler(std::move(handler)),
      intake(std::move(intake)),
      gateway(rt.gateway()),
      queue_key(this->core->prefix + "q:" + this->id),
      retry(std::chrono::milliseconds{50}, std::chrono::seconds{2}) {
    // nop
  }

  /// The worker actor.
  pool_worker_impl_actor::pointer self;
  /// Guards everything below (every handler takes it; kept so state
  /// touched from other threads stays safe).
  std::mutex mtx;
  /// This actor (for messages to itself from any thread).
  pool_worker_impl_actor me;
  /// The node's shared state.
  pool_core_ptr core;
  /// The worker's ID.
  std::string id;
  /// The worker's creation time (Unix ns).
  int64_t created_ns;
  /// Runs the jobs.
  job_handler_ptr handler;
  /// The node's intake: `BLMPOP` for all the node's queues.
  pool_intake_ptr intake;
  /// The node's confirmer: `confirm` calls of many workers in one.
  pool_confirmer_actor confirmer;
  /// This state (the intake's sink holds it weakly).
  std::weak_ptr<worker_state> weak;
  /// The runtime's shared gateway: every Redis call of the worker is a
  /// request to it (never a blocking call).
  gateway_actor gateway;
  /// The worker's queue, `<prefix>q:<id>`.
  std::string queue_key;
  /// Back-off of the retries after failed polls and Redis calls.
  backoff retry;
  /// Jobs running here: key -> epoch.
  std::unordered_map<std::string, uint64_t> running;
  /// Starts not yet startable (lease or membership in doubt).
  std::vector<queue_entry> deferred;
  /// `confirm` calls that failed (Redis away), retried later.
  std::vector<std::vector<std::string>> unconfirmed;
  /// Jobs stopped here that must be moved to their owner.
  std::vector<key_epoch> handoff;
  /// Starts refused with errc::requeue, moved after requeue_delay.
  std::vector<key_epoch> requeue;
  /// Jobs stopped here by their execution timeout whose failure is not yet
  /// recorded in Redis (`complete` failed): (key, epoch, error text).
  std::vector<std::tuple<std::string, uint64_t, std::string>> timed_out;
  /// Whether the requeue timer is pending.
  bool requeue_armed = false;
  /// Whether the retry timer is pending.
  bool retry_armed = false;
  /// A poll failed: entries it popped may be lost, rebuild the queue.
  bool needs_resync = false;
  /// Whether to ask for the next batch before handling one: only while
  /// handlers are quick (a reply left unread past the poll's timeout would
  /// reset the connection).
  bool poll_ahead = true;
  /// Whether the intake may hand single-entry batches to this worker on its
  /// reader thread (`take_inline`): the last batch was handled within
  /// `inline_budget`. Off until one was, so a handler that blocks from its
  /// first call never holds up the node's other queues.
  bool inline_ok = false;
  /// Whether this worker waits for a batch from the intake.
  bool polling = false;
  /// Set on close or exit: no new poll, and late poll replies are ignored.
  bool closed = false;

  // -- sequence of steps ------------------------------------------------------

  /// Steps waiting for the active one (messages that arrived while a Redis
  /// call of an earlier step was in flight, and the parts of a batch).
  std::deque<step> steps;
  /// Whether a step runs (it may wait for a Redis reply).
  bool step_active = false;
  /// Whether `run_steps` is on the stack (continuations called
  /// synchronously return to its loop).
  bool stepping = false;
  /// Set while `take_inline` runs on the intake's reader thread: Redis
  /// calls are parked and sent by the actor (`pw_call_atom`).
  bool on_reader = false;
  /// A Redis call made on the intake's reader thread, sent by the actor.
  struct parked_call {
    /// The pool script to run.
    const script* scr;
    /// Its arguments (the key is the pool's prefix).
    std::vector<std::string> args;
    /// Takes the reply.
    reply_fn k;
  };
  /// The parked call, if any (at most one: steps run one at a time).
  std::optional<parked_call> parked;
  /// The next attempt of the hand-over on close (`pw_handover_atom`).
  cont handover_next;

  /// Appends `s` to the steps and runs them. Called with `mtx` held.
  void submit(step s) {
    steps.push_back(std::move(s));
    run_steps();
  }

  /// Puts `xs` in front of the waiting steps (in order): the active step's
  /// parts, run right after it.
  void run_first(std::vector<step> xs) {
    steps.insert(steps.begin(), std::make_move_iterator(xs.begin()),
                 std::make_move_iterator(xs.end()));
  }

  /// Runs waiting steps until one waits for Redis or none is left.
  void run_steps() {
    if (stepping)
      return;
    stepping = true;
    while (!step_active && !steps.empty()) {
      auto s = std::move(steps.front());
      steps.pop_front();
      step_active = true;
      s([this] {
        step_active = false;
        if (!stepping)
          run_steps();
      });
    }
    stepping = false;
  }

  /// Whether no step runs or waits (`take_inline` may take a batch).
  bool idle() const {
    return !step_active && steps.empty();
  }

  // -- Redis helpers ----------------------------------------------------------

  /// Runs pool script `s` (`EVALSHA`) with the pool's key prefix as its
  /// key, without blocking: a request to the gateway whose reply (or error:
  /// any gateway error, `errc::redis_error`, ...) goes to `k` with `mtx`
  /// held. The actor handles no other message meanwhile (`await`), so the
  /// worker's steps keep their order. On the intake's reader thread the
  /// call is parked and the actor sends it (`pw_call_atom`).
  void eval(const script& s, std::vector<std::string> args,
            reply_fn k) override;

  /// Sends the parked call (on the actor).
  void send_parked();

  /// Runs one command like `eval` (on the actor only).
  void call(command cmd, reply_fn k) override;

  /// Reloads the membership (`members` script) into the node's state, then
  /// runs `k` with the error, if any (`reload_members_async`).
  void reload(std::function<void(caf::error)> k) {
    reload_members_async(*this, core, std::move(k));
  }

  /// Like `reload`, logging a failure; then runs `k`.
  void refresh(cont k);

  // -- handler calls ----------------------------------------------------------

  /// Runs the handler call `f`; an exception becomes `errc::handler_failed`
  /// (logged with `what` and `key`).
  template <class F>
  caf::error guarded(const char* what, const std::string& key, F f) {
    try {
      return f();
    } catch (const std::exception& e) {
      log::error("pool handler threw call={} key={} error=\"{}\"", what, key,
                 e.what());
      return make_error(errc::handler_failed, e.what());
    } catch (...) {
      log::error("pool handler threw call={} key={}", what, key);
      return make_error(errc::handler_failed, "unknown exception");
    }
  }

  /// Stops job `key` in the handler (logging an error) and forgets it.
  void stop_local(const std::string& key);

  /// Forgets job `key` if it runs here under `epoch` (it completed: the
  /// `complete` script's `C` entry), without a stop call.
  void forget(const std::string& key, uint64_t epoch);

  /// Stops every local job and queues it in `handoff` (fencing).
  void stop_all_local();

  // -- queue ------------------------------------------------------------------

  /// Asks the node's intake for the next batch (`pool_intake::want`)
  /// unless closed or asked already. Called with `mtx` held.
  void poll();

  /// A batch from the intake (`pw_batch_atom`, or `take_inline`): entries
  /// of this queue, in order (as steps run before the waiting ones). Called
  /// with `mtx` held.
  void on_batch(std::vector<resp::value>& entries, cont k);

  /// The intake's sink (`pool_intake::sink`), on the intake's reader
  /// thread: handles a single-entry batch right there if the worker is idle
  /// (its mutex free) and `inline_ok`, saving the thread hop to the worker
  /// actor (the node's other queues wait meanwhile); else returns false and
  /// the batch comes as `pw_batch_atom`.
  static bool take_inline(const std::weak_ptr<worker_state>& w,
                          std::vector<resp::value>& entries);

  /// The intake's call that covered this queue failed (`pw_lost_atom`):
  /// resync, then poll again. Called with `mtx` held.
  void on_lost(const caf::error& err);

  /// Rebuilds the queue after a failed poll (see `pool_scripts::resync`);
  /// `k` takes whether it did.
  void resync(ok_fn k);

  /// Arms the retry timer (delay from `retry`) unless armed or exited.
  void arm_retry();

  /// Handles popped queue entries in order: starts in batches, stops and
  /// notifications one by one; malformed entries are skipped. Returns the
  /// steps that do it.
  std::vector<step> process(std::vector<resp::value>& entries);

  /// Moves `items` to `deferred`.
  void defer(std::vector<queue_entry>& items);

  /// Starts a batch of start entries: keys that no longer hash here are
  /// moved (fenced by epoch and membership revision); the others start at
  /// once if this worker's lease is valid, and are confirmed afterwards.
  /// `attempt` counts the moves refused for a stale membership (4: defer).
  void start_batch(std::shared_ptr<std::vector<queue_entry>> items,
                   int attempt, cont k);

  /// `start_batch` once the membership `m` has this worker.
  void start_batch_with(std::shared_ptr<std::vector<queue_entry>> items,
                        int attempt,
                        std::shared_ptr<const pool_membership> m, cont k);

  /// Returns `text` with the separators `\x1e` and `\x1f` replaced by `?`.
  static std::string wire_text(std::string text);

  /// Starts `items` in the handler and confirms them: a job running here
  /// already adopts the newer epoch, `errc::requeue` goes to `requeue`, and
  /// other errors are reported to the dispatching node.
  void run_starts(std::vector<queue_entry>& items, cont k);

  /// Confirms starts (and publishes their results); stops the jobs Redis
  /// says this worker no longer owns. `k` takes whether Redis answered
  /// (otherwise the call waits in `unconfirmed`).
  void confirm(std::vector<std::string> args, ok_fn k);

  /// The execution timeout of a start entry: its own, else the pool's.
  caf::timespan timeout_of(const queue_entry& e) const;
  /// A job's execution timeout passed: if it still runs here at `epoch`,
  /// stops it and fails the attempt (`complete` script).
  void on_timeout(const std::string& key, uint64_t epoch, cont k);
  /// Records the timed-out failures in `timed_out`; false if Redis failed.
  void flush_timed_out(ok_fn k);
  /// A stop entry: stops the job if it runs here at `e.epoch`, else drops
  /// its deferred and requeued starts.
  void on_stop(const queue_entry& e);

  /// A notification entry: passes it to the handler if the job runs here at
  /// `e.epoch`, else drops it (with a warning).
  void on_notify(const queue_entry& e);

  // -- moves ------------------------------------------------------------------

  /// Arms the requeue timer (`requeue_delay`) unless armed or exited.
  void arm_requeue();

  /// Moves every job in `handoff` to the worker its key hashes to now.
  void flush_handoff(ok_fn k);

  /// Moves every job this worker still owns in Redis (after it left the
  /// membership), trying for up to `budget` (waits between failed
  /// attempts are timers, `pw_handover_atom`), then runs `k`.
  void hand_over_owned(caf::timespan budget, cont k);

  /// A hand-over on close in progress.
  struct handover {
    /// The clock of the deadlines.
    using clock = std::chrono::steady_clock;
    /// When it gives up (`worker_shutdown_ttl` after it began).
    clock::time_point deadline;
    /// Since when attempts fail in a row (Redis unreachable), or zero.
    clock::time_point failing_since;
    /// The waits between failed attempts.
    backoff delay;
    /// Runs when it ends.
    cont k;
  };

  /// One attempt of `hand_over_owned`.
  void hand_over_attempt(std::shared_ptr<handover> h);

  /// Stops the jobs whose keys no longer hash to this worker, queues them in
  /// `handoff`, then resumes.
  void rebalance(cont k);

  /// Retries unconfirmed starts, hands over `handoff` and starts the
  /// deferred entries.
  void resume(cont k);

  /// Stops every local job and forgets every pending list (their jobs stay
  /// owned in Redis: rejoin re-queues them, close hands them over).
  void stop_everything();

  /// Stops everything, makes this worker a member again (`add_worker`
  /// script) and reloads the membership.
  void rejoin(cont k);

  /// Cancels the poll and stops every job; unless `shutdown`, hands the jobs
  /// over (for up to `worker_shutdown_ttl`); then runs `k`.
  void close(bool shutdown, cont k);
};

} // namespace pulse::worker_detail
