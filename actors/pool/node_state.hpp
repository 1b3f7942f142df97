#pragma once

/// Internal to the pool node: its state (membership, lease and fencing,
/// local workers, requesters' dispatch promises, close and shutdown),
/// shared by the node actor (`node.cpp`) and its steps (`node_state.cpp`).

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/pool/core.hpp"
#include "pulse/actors/pool/dispatcher.hpp"
#include "pulse/actors/pool/handler.hpp"
#include "pulse/actors/pool/confirmer.hpp"
#include "pulse/actors/pool/dead_set.hpp"
#include "pulse/actors/pool/intake.hpp"
#include "pulse/actors/pool/job_moves.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/messages/pool.hpp"

namespace pulse::node_detail {

using std::chrono::steady_clock;

/// Answers `rp` with the value in `x`, or with its error.
template <class T>
void deliver(caf::typed_response_promise<T>& rp, caf::expected<T> x) {
  if (x)
    rp.deliver(std::move(*x));
  else
    rp.deliver(std::move(x.error()));
}

/// Checks that `r` is an array of `n` elements (the reply to a command of
/// `n` keys); otherwise logs a warning that the node `what` (names
/// `pool` and `node`) and returns false.
bool array_reply(const caf::expected<resp::value>& r, size_t n,
                 const char* what, const std::string& pool,
                 const std::string& node);

/// At most one membership refresh per this period while workers are added
/// in a burst (`node_state::refresh_soon`), or per `refresh_cost_factor`
/// times what the last refresh cost if that is longer.
constexpr auto refresh_throttle = std::chrono::milliseconds{20};

/// A refresh reloads every member and tells every local worker to
/// rebalance (O(workers)): with 10,000 workers one costs tens of ms, so a
/// burst of adds waits this many times the last refresh's cost between
/// refreshes (Redis and the scheduler stay mostly free for the adds).
constexpr int refresh_cost_factor = 4;

/// One of this node's workers.
struct local_worker {
  /// The worker actor.
  pool_worker_actor hdl;
  /// The worker's creation time (Unix ns).
  int64_t created_ns;
};

/// State of a pool node actor.
struct node_state : pool_io {
  /// Creates the state of node actor `self`.
  node_state(pool_node_impl_actor::pointer self, services& rt,
             pool_core_ptr core)
    : self(self), rt(rt), core(std::move(core)) {
    // nop
  }

  /// The node actor.
  pool_node_impl_actor::pointer self;
  /// The runtime's services.
  services& rt;
  /// The node's shared state.
  pool_core_ptr core;
  /// This node's workers by ID.
  std::map<std::string, local_worker> workers;
  /// The node cleaner (none for `client_only` nodes, and after close).
  pool_cleaner_actor cleaner;
  /// The node's intake: one `BLMPOP` connection for every local worker's
  /// queue (spawned with the first worker; exited with the node).
  pool_intake_ptr intake;
  /// The node's confirmer (group commit of its workers' `confirm` calls;
  /// spawned with the first worker, exited with the node).
  pool_confirmer_actor confirmer;
  /// The node's dispatcher.
  dispatcher_ptr disp;
  /// Dispatch requests of actors waiting for their completion.
  std::unordered_map<uint64_t, caf::response_promise> requests;
  /// The last ID given to an entry of `requests`.
  uint64_t last_request = 0;
  /// When the lease may have ended unless renewed (see `fence_check`).
  steady_clock::time_point lease_deadline;
  /// Whether the workers are fenced (the lease ended before its renewal).
  bool fenced = false;
  /// Set by `close_all`: the node is closing or shutting down.
  bool closed = false;
  /// Set once the node left the pool (no more keep-alives).
  bool left = false;
  /// Set once the pool shuts down: this node was asked to shut it down, or
  /// learned that another node did (a shutdown after a close is refused).
  bool shutting_down = false;
  /// Workers removed from the membership that are still handing over.
  std::set<std::string> leaving;
  /// Membership revision the workers were last told about.
  int64_t seen_rev = -1;
  /// What later `close_all` calls run once the close under way finished
  /// (the node left): a shutdown must not delete the pool's keys while
  /// this node's workers still stop their jobs and keep their leases.
  std::vector<std::function<void()>> after_close;
  /// The reply to `shutdown`, given once the pool's keys are deleted.
  caf::response_promise shutdown_promise;
  /// Until when `wait_nodes` waits for the other nodes to leave.
  steady_clock::time_point shutdown_deadline;
  /// When `refresh` last ran.
  steady_clock::time_point last_refresh;
  /// What the last `refresh` took (reload and the rebalance messages).
  steady_clock::duration refresh_cost{};
  /// Whether `refresh_soon` scheduled a refresh (`pn_refresh_atom`).
  bool refresh_pending = false;
  /// Generation of the armed delayed-job timer (older timers are ignored).
  uint64_t delay_gen = 0;
  /// When the armed delayed-job timer fires.
  steady_clock::time_point delay_due = steady_clock::time_point::max();

  /// Runs pool script `s` (`EVALSHA`) with the pool's key prefix as its
  /// key, without blocking the node: sends it to the gateway and calls `k` with the reply or the
  /// error (any gateway error) when it arrives; other messages are handled
  /// meanwhile.
  void eval(const script& s, std::vector<std::string> args,
            reply_fn k) override {
    self
      ->request(rt.gateway(), caf::infinite, eval_atom::value, s,
                core->script_keys, std::move(args))
      .then([k](resp::value& v) { k(std::move(v)); },
            [k](caf::error& e) { k(std::move(e)); });
  }

  /// Runs command `cmd` on the gateway without blocking the node; calls `k`
  /// like `eval`.
  void call(command cmd, reply_fn k) override {
    self->request(rt.gateway(), caf::infinite, cmd_atom::value, std::move(cmd))
      .then([k](resp::value& v) { k(std::move(v)); },
            [k](caf::error& e) { k(std::move(e)); });
  }

  /// Maps a script's status to the error to answer with (none: success).
  using refusal_fn = std::function<caf::error(const std::string& status)>;

  /// Runs pool script `s` like `eval` and answers `rp` with `true`, or with
  /// the call's error (any gateway error), or with what `refuse` makes of
  /// the script's status (e.g. `errc::not_found` for "missing").
  void eval_answer(const script& s, std::vector<std::string> args,
                   caf::typed_response_promise<bool> rp, refusal_fn refuse) {
    eval(s, std::move(args),
         [rp, refuse](caf::expected<resp::value> r) mutable {
           if (!r) {
             rp.deliver(std::move(r.error()));
             return;
           }
           if (auto err = refuse(script_status(*r)))
             rp.deliver(std::move(err));
           else
             rp.deliver(true);
         });
  }

  /// Reloads the membership (`members` script) without blocking and tells
  /// the workers to rebalance if it changed; then runs `then` (also after
  /// a failed reload, which is logged). With `after_resub` the reply is
  /// installed even if its revision is older than the one held (a failover
  /// lost the newest changes).
  void refresh(std::function<void()> then = {}, bool after_resub = false);

  /// `refresh` for `add_worker` and membership notices (`m<rev>` on the
  /// pool's control channel): at once unless one ran within
  /// `refresh_throttle` (or `refresh_cost_factor` times the last one's
  /// cost, if longer), else once when that has passed
  /// (`pn_refresh_atom`), so a burst of adds costs one membership reload
  /// and one rebalance round per period instead of one per add (which made
  /// adding N workers O(N²)).
  void refresh_soon();

  /// After the node's channel was re-subscribed: completes the waiting
  /// dispatches whose job a worker started meanwhile (their result was
  /// published while nobody listened). One `HMGET jobs <keys>`; a record
  /// in state `r` naming this node and the dispatch's ID counts as started.
  /// The others keep waiting (a result published from now on arrives),
  /// except those the dispatch script stored whose record is gone (a
  /// failover discarded it, or the job finished): they wait 1 s more at
  /// most, then fail with `errc::timeout` ("the outcome is unknown").
  void recheck_dispatches();

  /// Handles the `HMGET` reply `r` of `recheck_dispatches` for `waiting`.
  void rechecked(const std::vector<std::pair<uint64_t, std::string>>& waiting,
                 const caf::expected<resp::value>& r);

  /// After re-subscribing: completes the dispatches still waiting for their
  /// job's outcome whose completion record was published while nobody
  /// listened, from the outcomes the completion scripts kept for them
  /// (`out:<node>:<id>`, see `pool_scripts::complete`). One `MGET`, then
  /// one `DEL` of those found. A start waiter of a recovered dispatch
  /// completes too. The others keep waiting.
  void recover_outcomes();

  /// The key where a completion script keeps dispatch `id`'s outcome for
  /// this node (`out:<node>:<id>`).
  std::string outcome_key(uint64_t id) const;

  /// Handles the `MGET` reply `r` of `recover_outcomes` for `ids`.
  void recovered(const std::vector<uint64_t>& ids,
                 const caf::expected<resp::value>& r);

  // -- keep-alive and fencing -------------------------------------------------

  /// Renews this node's and its workers' leases (`keepalive` script)
  /// without blocking, one renewal at a time; workers that are no members
  /// (declared dead elsewhere, or lost by a failover) rejoin.
  void keepalive();

  /// Whether a keep-alive's reply is awaited.
  bool keepalive_busy = false;

  /// Handles the `keepalive` reply `r` to a renewal sent at `sent`: moves
  /// the lease deadline, resumes fenced workers, refreshes on a new
  /// membership revision, tells workers that are no members to rejoin.
  void renewed(steady_clock::time_point sent, const resp::value& r);

  /// Fences the workers (they stop their jobs) once the lease may have
  /// ended without a renewal.
  void fence_check();

  // -- dispatch (actor API) ---------------------------------------------------

  /// Dispatches through the node's dispatcher (the one dispatch path and
  /// registry); the completion comes back as `(pn_done_atom, request, error)`
  /// and answers the requester's promise, kept here so that none is left
  /// unanswered when the node closes or exits.
  void dispatch(std::string key, std::string payload,
                caf::response_promise rp, const dispatch_options& opts = {}) {
    auto id = ++last_request;
    requests.emplace(id, std::move(rp));
    auto addr = self->address();
    disp->dispatch(
      std::move(key), std::move(payload),
      [addr, id](caf::error err) {
        if (auto hdl = caf::actor_cast<caf::actor>(addr))
          caf::anon_send(hdl, pn_done_atom::value, id, std::move(err));
      },
      dispatcher::mode::lead, opts);
  }

  /// Answers the request `id` with the dispatch's result.
  void dispatched(uint64_t id, caf::error err);

  /// Answers every dispatch request still waiting with `errc::closed`.
  void fail_requests();

  // -- jobs that finish (node_tasks.cpp) ---------------------------------------

  /// Dispatches and answers `rp` with the job's result once it finished
  /// (`dispatcher::dispatch_for_result`), through `requests` like
  /// `dispatch`.
  void dispatch_wait(std::string key, std::string payload,
                     caf::timespan timeout, caf::response_promise rp);

  /// Answers the request `id` with a finished job's result.
  void finished(uint64_t id, std::string result);

  /// Completes job `j` (`complete` script) with a result (`ok`) or a
  /// failure; a worker of this node is told first (`pw_completed_atom`).
  /// Errors: `errc::not_found` (stopped, moved or finished meanwhile),
  /// Redis errors.
  caf::result<bool> complete_job(const job& j, bool ok, std::string value);

  /// The kept outcome of a finished job (`GET result:<key>`).
  caf::result<caf::optional<job_outcome>> job_result(const std::string& key);

  // -- the dead set (node_dead.cpp) -------------------------------------------

  /// The oldest `limit` dead jobs (`dead_jobs` script).
  caf::result<std::vector<dead_job>> dead_jobs(uint64_t limit);
  /// Moves dead jobs back into the pool (`redrive` script, repeated while
  /// it makes progress when `keys` is empty); returns how many moved.
  caf::result<uint64_t> redrive(const std::vector<std::string>& keys);
  /// Deletes dead jobs (`purge_dead` script, repeated like `redrive`).
  caf::result<uint64_t> purge_dead(const std::vector<std::string>& keys);
  /// Runs `s` (`redrive` or `purge_dead`) on `keys`, again while
  /// `pool_dead_set::add_step` says so, adding to `total`; then `k` gets
  /// the count, or the first error. `s` must outlive the chain (the pool's
  /// scripts are static).
  void repeat_dead_script(const script& s, std::vector<std::string> keys,
                          std::shared_ptr<pool_dead_set::outcome> total,
                          std::function<void(caf::expected<uint64_t>)> k);

  // -- delayed jobs (node_delayed.cpp) ----------------------------------------

  /// Stores a delayed job (`schedule_job` script) due at `at_ms` (Unix ms;
  /// < 0: `in` from now on Redis' clock); replies with its due time.
  /// Errors: `errc::invalid_argument` (key), `errc::job_exists` (the key
  /// already has a delayed job), `errc::shutting_down`, `errc::closed`,
  /// Redis errors.
  caf::result<int64_t> dispatch_later(const std::string& key,
                                      const std::string& payload,
                                      int64_t at_ms, caf::timespan in);

  /// The due time (Unix ms) in a `schedule_job` reply `r` for `key`, or
  /// the error `dispatch_later` answers with.
  caf::expected<int64_t> scheduled(const std::string& key,
                                   const caf::expected<resp::value>& r);

  /// Promotes the due delayed jobs (`due_jobs`, then `promote` with each
  /// key's target), then arms the timer for the next one (at most a
  /// keep-alive period away, so a missed notice costs no more). Full nodes
  /// only; every node races and the script promotes each job once.
  void promote_due();

  /// Round `round` of a `promote_due` pass: `due_jobs`, then `promote`,
  /// each answered without blocking the node.
  void promote_round(int round);

  /// Handles the `promote` reply `p` of round `round`: on "stale" reloads
  /// the membership and goes on; otherwise counts, then goes on or ends.
  void promoted(int round, const caf::expected<resp::value>& p);

  /// Ends a `promote_due` pass: starts another if a notice came meanwhile,
  /// else arms the timer `wait` from now (none: leaves it disarmed).
  void promote_end(caf::optional<caf::timespan> wait);

  /// Whether a `promote_due` pass is running.
  bool promoting = false;
  /// Whether `promote_due` was asked for while a pass ran.
  bool promote_again = false;

  /// Arms the delayed-job timer `wait` from now unless it fires sooner.
  void arm_delay(caf::timespan wait);

  /// A new earliest delayed job was announced (`d<due_ms>`): promote now.
  void delay_notice() { promote_due(); }

  // -- workers ----------------------------------------------------------------

  /// Adds a worker (`add_worker` script) and spawns its actor.
  caf::result<std::string> add_worker(job_handler_ptr handler);

  /// Spawns the actor of worker `id`, now a member, and refreshes soon
  /// (spawns the intake and the confirmer with the first worker).
  void start_worker(const std::string& id, int64_t created,
                    job_handler_ptr handler);

  /// Removes a worker after it handed its jobs over.
  caf::result<bool> remove_worker(const std::string& id);

  // -- close and shutdown -----------------------------------------------------

  /// Stops every local worker (handing jobs over unless `shutdown`), then
  /// leaves the pool and quits; `then` runs once all workers are done (also
  /// when called again while a close is under way: see `after_close`).
  void close_all(bool shutdown, std::function<void()> then);

  /// The second half of `close_all`, once the workers left the membership:
  /// exits the cleaner, closes every worker, then leaves and runs `then`.
  void close_workers(bool shutdown, std::function<void()> then);

  /// Leaves the pool: drops the lease (`ZREM alive`, `HDEL info`), deletes
  /// the intake's wake key (`DEL`), fails pending dispatches with
  /// `errc::closed`, unsubscribes.
  void leave();

  /// The pool shuts down: stops every job here without handing over.
  void local_shutdown();

  /// Waits (up to `worker_ttl`) for the other nodes to leave, then deletes
  /// the pool's keys (`purge` script).
  void wait_nodes();
};

} // namespace pulse::node_detail
