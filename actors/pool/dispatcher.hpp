#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pulse/actors/pool/core.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/services.hpp"

namespace pulse {

/// The one dispatch path of a pool node, shared by the node actor
/// (`dispatch_atom`) and the `pool_node` facade (`dispatch`,
/// `dispatch_async`): group commit of concurrent dispatches into one
/// `dispatch_many` script call per batch (`actors/pool/scripts.hpp`).
///
/// Pending dispatches live in one registry, the node's `pool_core`
/// waiters: the completion is registered before the script runs and is
/// called exactly once, with no error when the worker started the job
/// (the result arrives on the node's channel and is delivered from the
/// pub/sub reader thread), or with `errc::job_exists`,
/// `errc::overloaded`, `errc::shutting_down`, a Redis error,
/// `errc::timeout` after `2 * ack_grace_period`, or `errc::closed` when
/// the node closes.
///
/// Batching: a dispatch that may lead and finds no batch in flight sends
/// its own batch at once through the gateway's direct entry (no thread
/// hop at light load); dispatches arriving meanwhile, and the others, go
/// out as one batch per round trip from two flusher threads, which also
/// fail timed-out dispatches. A `stale` membership revision is answered by
/// reloading the membership and sending again.
class dispatcher {
public:
  /// Completion of one dispatch.
  using done_fn = std::function<void(caf::error)>;

  /// How the caller waits: `lead` may send a batch from the calling thread
  /// without blocking (an actor, a blocking caller), `lead_blocking` may
  /// also fall back to a blocking send when the direct entry is down (a
  /// blocking caller), `queue` always hands the batch to a flusher (async
  /// callers).
  enum class mode { queue, lead, lead_blocking };

  /// Starts the flusher threads. Blocks for one round trip to the gateway
  /// (its direct entry): call it where blocking is allowed.
  dispatcher(services& svc, pool_core_ptr core);

  /// Fails every pending dispatch with `errc::closed` and joins the
  /// flusher threads.
  ~dispatcher();

  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  /// Dispatches `key` with `payload` (and its own `opts`); `done` runs
  /// exactly once (see the class comment), possibly before this returns.
  void dispatch(std::string key, std::string payload, done_fn done, mode m,
                const dispatch_options& opts = {});

  /// Dispatches `key` and waits for its outcome instead of its start:
  /// `fn` runs exactly once, with the result of `complete` (or of a task
  /// handler), `errc::handler_failed` with the failure's text (also a
  /// failed start), a dispatch error as above, `errc::timeout` once
  /// `timeout` passed (the job itself goes on), or `errc::closed`.
  void dispatch_for_result(std::string key, std::string payload,
                           caf::timespan timeout,
                           result_registry::result_fn fn, mode m,
                           const dispatch_options& opts = {});

  /// Fails every pending dispatch with `errc::closed` (the node left: no
  /// result can reach it any more).
  void close();

private:
  struct item {
    std::string key;
    std::string payload;
    uint64_t did = 0;
    /// `dispatch_opts_arg` of the dispatch's options.
    std::string opts;
    /// A dispatch waiting for its job's outcome: how long (ms) Redis keeps
    /// the outcome when its completion record reaches no subscriber (sent
    /// as the dispatch ID `<did>.<keep_ms>`); 0: it waits for the start.
    int64_t keep_ms = 0;
  };

  /// Registers `done` under `did` and queues or sends the item.
  void enqueue(std::string key, std::string payload, uint64_t did,
               done_fn done, mode m, std::string opts, int64_t keep_ms = 0);
  std::vector<item> take();
  void fail_expired(client& c, std::vector<pool_core::expired_dispatch>& xs);
  bool send_async(std::shared_ptr<std::vector<item>> batch);
  void send(client& c, std::vector<item>& batch);
  void settle(const std::vector<item>& batch,
              const caf::expected<resp::value>& r);
  std::vector<std::string> batch_args(const std::vector<item>& batch,
                                      const pool_membership& m);
  /// A flusher's loop; the one that `expires` also times dispatches out.
  void run(client& c, bool expires);

  pool_core_ptr core_;
  client cli_;        // the first flusher's
  client cli2_;       // the second flusher's
  client leader_cli_; // a leading caller's, when the direct entry is down
  gateway_direct_ptr direct_;
  std::mutex mtx_;
  std::condition_variable cv_;
  /// A caller's batch is in flight (sent without waiting).
  bool leading_ = false;
  std::deque<item> queue_;
  /// How often the first flusher fails timed-out dispatches (`pool_core::expire`):
  /// a tenth of the dispatch timeout, between 5 and 100 ms.
  std::chrono::steady_clock::duration expire_period_;
  /// Batches being sent by flushers right now (at most `max_flushing`).
  size_t flushing_ = 0;
  static constexpr size_t max_flushing = 2;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// Shared handle on a node's dispatcher.
using dispatcher_ptr = std::shared_ptr<dispatcher>;

} // namespace pulse
