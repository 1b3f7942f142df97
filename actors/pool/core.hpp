#pragma once

/// State shared by the actors of one pool node (node, workers, cleaner,
/// ticker) and its plain C++ facade: options, the cached membership, the
/// node's lease and the table of dispatch waiters.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/pool.hpp"
#include "pulse/messages/options.hpp"
#include "pulse/actors/pool/results.hpp"
#include "pulse/actors/pool/routing.hpp"
#include "pulse/actors/redis/resp.hpp"

namespace pulse {

/// One revision of the pool's membership.
struct pool_membership {
  /// The pool's membership revision (`mrev`).
  int64_t rev = 0;
  /// Workers sorted by creation time, then ID (the routing order L).
  std::vector<pool_routing::worker> active;
  /// Worker ID -> node ID.
  std::map<std::string, std::string> nodes;

  /// The worker owning `key` (`L[jump_hash(key, |L|)]`), or "" if none.
  std::string target(const std::string& key) const;

  /// Whether `id` is a member.
  bool has(const std::string& id) const { return nodes.count(id) > 0; }

  /// Parses the reply of `pool_scripts::members()`.
  static std::shared_ptr<const pool_membership> parse(const resp::value& v);
};

/// Shared state of one pool node. Thread-safe.
class pool_core {
public:
  /// Creates the state of node `node` of pool `pool` (empty membership).
  pool_core(std::string pool, std::string node, pool_options opts);

  /// The pool's name.
  const std::string pool;
  /// This node's ID (a ULID).
  const std::string node;
  /// `pulse:pool:{P}:`
  const std::string prefix;
  /// The keys of every pool script (`pool_scripts::script_keys`).
  const std::vector<std::string> script_keys;
  /// The node's options.
  const pool_options opts;
  /// The node's human-readable name: `opts.name`, or `<host>:<pid>:<k>`.
  const std::string name;

  /// Returns the name of worker `id`: `<name>:<i>`, where i counts the
  /// workers of this node in the order they were first named (stable for
  /// an ID). Thread-safe.
  std::string worker_name(const std::string& id);

  /// The node's entry in the pool's `info` hash:
  /// `<name>|<host>|<pid>|<library version>`.
  std::string info() const;

  /// The latest membership seen.
  std::shared_ptr<const pool_membership> members() const;
  /// Installs `m` if its revision is not older; returns whether it did.
  bool install(std::shared_ptr<const pool_membership> m);
  /// Installs `m` even if its revision is older: after a failover the new
  /// master may have lost the newest membership changes, and its older
  /// revision is the one the scripts check against from now on.
  void replace(std::shared_ptr<const pool_membership> m);

  /// Sets when this node's lease (as renewed by its last keep-alive) ends.
  void set_lease_deadline(std::chrono::steady_clock::time_point t);
  /// Whether the lease is still valid: workers start no job otherwise.
  bool lease_valid() const;

  /// Whether `key` may be dispatched from this node now. Errors:
  /// `errc::closed`, `errc::invalid_argument` (empty key or `=`).
  caf::error check_dispatch(const std::string& key) const;

  /// A fresh dispatch ID: unique within this node, whose channel carries
  /// the results (sent as decimal).
  uint64_t next_dispatch_id();
  /// Completion of one dispatch: no error once the worker started the job.
  using dispatch_done = std::function<void(caf::error)>;
  /// Registers the completion of dispatch `id` in the node's one registry
  /// of pending dispatches, to be failed with `errc::timeout` by `expire`
  /// after `deadline`. Register before publishing.
  void add_waiter(uint64_t id, std::string key, dispatch_done fn,
                  std::chrono::steady_clock::time_point deadline);
  /// Removes the waiter of `id` and runs it with `err`; returns false if it
  /// was no longer registered (it completed already).
  bool complete(uint64_t id, caf::error err);
  /// Completes every registered waiter with `err`.
  void complete_all(const caf::error& err);
  /// A dispatch whose deadline passed, removed from the registry.
  struct expired_dispatch {
    /// The dispatch ID.
    uint64_t id;
    /// The job key.
    std::string key;
    /// Its completion, still to run (with `errc::timeout`).
    dispatch_done fn;
    /// The deadline it missed (registration + `dispatch_timeout()`).
    std::chrono::steady_clock::time_point deadline;
  };
  /// Removes the waiters whose deadline is before `now` and returns them;
  /// the caller completes them (see `dispatcher::run`).
  std::vector<expired_dispatch>
  expire(std::chrono::steady_clock::time_point now);
  /// Delivers the results in a node-channel message (records
  /// `<id>\x1f<error>\x1e`, empty error = started, otherwise
  /// `errc::handler_failed` with the text; completion records go to
  /// `results`); late or unknown results are dropped. Returns how many
  /// start waiters took one.
  size_t deliver(const std::string& msg);
  /// Notes that the dispatch script stored the job of waiter `id` (its
  /// reply was "ok"); `waiting_stored` lists those.
  void mark_stored(uint64_t id);
  /// Moves the deadline of waiter `id` to `deadline` if that is earlier.
  void expire_early(uint64_t id,
                    std::chrono::steady_clock::time_point deadline);
  /// Number of registered waiters.
  size_t waiters() const;
  /// The registered waiters right now: (dispatch ID, job key) pairs.
  std::vector<std::pair<uint64_t, std::string>> waiting() const;
  /// Whether the dispatch script stored the job of waiter `id` (see
  /// `mark_stored`); false for an unknown `id`.
  bool stored(uint64_t id) const;

  /// Whether the node is closing or closed (dispatch fails).
  std::atomic<bool> closing{false};

  /// Workers' `confirm` calls sent straight to the gateway and not yet
  /// answered: while 4 are, the others go through the node's confirmer
  /// (`pool_confirmer`; see `confirm_direct_max`), so a node with few
  /// workers takes no extra hop.
  std::atomic<int> direct_confirms{0};

  /// When the node's pub/sub connection last subscribed again after a lost
  /// connection (`steady_clock` nanoseconds since its epoch; 0: never): a
  /// Sentinel failover or a Redis restart may have discarded jobs stored
  /// before, so a dispatch timing out near it has an unknown outcome.
  std::atomic<int64_t> last_resub_ns{0};

  /// Dispatches waiting for their job's outcome; `deliver` passes them the
  /// completion records.
  result_registry results;

  // -- counters (see `pool_stats`) --------------------------------------------

  /// Dispatches through this node.
  std::atomic<uint64_t> dispatches{0};
  /// Dispatches completed with an error.
  std::atomic<uint64_t> dispatch_errors{0};
  /// Jobs started by this node's workers.
  std::atomic<uint64_t> starts{0};
  /// Jobs stopped by this node's workers.
  std::atomic<uint64_t> stops{0};
  /// Jobs moved away from dead or removed workers by this node's cleaner.
  std::atomic<uint64_t> failovers{0};
  /// Jobs running on this node's workers right now.
  std::atomic<int64_t> running{0};
  /// Counts a completed dispatch that took `d`.
  void observe_dispatch(caf::timespan d, bool failed);
  /// The dispatch latencies so far.
  latency_histogram dispatch_latency() const;

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const pool_membership> members_;
  std::atomic<int64_t> lease_deadline_{0};
  std::atomic<uint64_t> next_id_{0};
  struct waiter {
    std::string key;
    dispatch_done fn;
    std::chrono::steady_clock::time_point deadline;
    bool stored = false;
  };
  std::unordered_map<uint64_t, waiter> waiters_;
  mutable std::mutex hist_mtx_;
  latency_histogram dispatch_latency_;
  std::unordered_map<std::string, std::string> worker_names_;
};

/// Shared handle on a node's state.
using pool_core_ptr = std::shared_ptr<pool_core>;

class client;

/// `d` in whole milliseconds, as a script argument.
std::string ms_arg(caf::timespan d);

/// Per-dispatch options as the `dispatch_many` script takes them:
/// `max_attempts|timeout_ms` (a part empty: the pool's), or "" when both
/// are the pool's.
std::string dispatch_opts_arg(const dispatch_options& o);

/// The admission argument of `dispatch_many` and `promote`:
/// `max_queued|rate_limit|rate_period_ms`, or `max_queued` alone when
/// there is no rate limit.
std::string admission_arg(const pool_options& opts);

/// The retry policy argument of the pool scripts that settle failures
/// (`confirm`, `complete`, `move`): `max|base_ms|cap_ms|jitter_pct|random`
/// from `opts`, with a fresh random number in 0..999999.
std::string retry_policy(const pool_options& opts);

/// The arguments of the `add_worker` script (`pool_scripts::add_worker`:
/// lease, membership revision, re-queue of what the worker still owns, its
/// name in the pool's `info` hash) for worker `id` of this node.
std::vector<std::string> add_member_args(pool_core& core,
                                         const std::string& id,
                                         int64_t created_ns);

/// The arguments of the `move` script moving `jobs` — (key, epoch or "*")
/// pairs owned by `from` — to the worker each key hashes to in `m`.
std::vector<std::string>
move_args(const pool_core& core, const pool_membership& m,
          const std::string& from,
          const std::vector<std::pair<std::string, std::string>>& jobs);

/// The status string a pool script replied with (its first element), or
/// "" for any other reply.
const std::string& script_status(const resp::value& v);

/// Reloads the membership (`members` script) into `core`. Errors: Redis
/// errors.
caf::error reload_members(client& cli, pool_core& core);

/// The error for a dispatch the `dispatch`/`dispatch_many` script refused
/// with `status` (`exists`, `overloaded`, `shutdown`, or anything else).
caf::error dispatch_refusal(const std::string& status, const std::string& key);

/// A dead job from the `dead_jobs` script's reply fields: key, time of
/// death (Unix ms), payload and state `attempts|max|timeout_ms|history`;
/// malformed parts are left empty.
dead_job parse_dead_job(std::string key, const std::string& died,
                        std::string payload, const std::string& state);

/// Queue entries of a worker (see `pool_scripts`):
/// `S<epoch>[/<attempt>/<timeout_ms>] <klen> <nlen> <dlen> <key><node><dispatch_id><payload>`,
/// `T<epoch> <key>`, `N<epoch> <len> <key><payload>` and `C<epoch> <key>`.
struct queue_entry {
  /// 'S' (start), 'T' (stop), 'N' (notification), 'C' (completed); 0 if
  /// malformed.
  char kind = 0;
  /// The job's epoch the entry belongs to.
  uint64_t epoch = 0;
  /// The job's key.
  std::string key;
  /// Start and notification entries: the payload.
  std::string payload;
  /// Start entries: the dispatching node.
  std::string node;
  /// Start entries: the dispatch ID (decimal).
  std::string dispatch_id;
  /// Start entries: the attempt (`/<attempt>/<timeout_ms>` after the
  /// epoch; 1 without).
  uint32_t attempt = 1;
  /// Start entries: the job's own execution timeout in ms; -1: the pool's.
  int64_t timeout_ms = -1;
};

/// Parses a queue entry; `nullopt`-like `kind == 0` for malformed input.
queue_entry parse_queue_entry(const std::string& raw);

} // namespace pulse
