#pragma once

/// Internal to the pool worker: its state, shared by the actor
/// (`worker.cpp`), its queue intake (`worker_queue.cpp`: `BLMPOP` on its
/// queue, handled on the blocking gateway's reader thread, and the resync
/// after a failed poll) and its job life cycle (`worker_jobs.cpp`: start,
/// confirm, stop, notify, requeue, hand-over, rebalance, fence, close).

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "pulse/actors/pool/core.hpp"
#include "pulse/actors/pool/handler.hpp"
#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/messages/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::worker_detail {


using key_epoch = std::pair<std::string, uint64_t>;

inline std::string seconds_arg(caf::timespan d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f",
                std::chrono::duration<double>(d).count());
  return buf;
}

struct worker_state {
  worker_state(caf::event_based_actor* self, services& rt, pool_core_ptr core,
               std::string id, int64_t created_ns, job_handler_ptr handler)
    : self(self),
      core(std::move(core)),
      id(std::move(id)),
      created_ns(created_ns),
      handler(std::move(handler)),
      blocking(rt.spawn_gateway(gateway_role::blocking)),
      cli(rt.system(), rt.gateway()),
      command_timeout(rt.redis().command_timeout),
      queue_key(this->core->prefix + "q:" + this->id),
      retry(std::chrono::milliseconds{50}, std::chrono::seconds{2}) {
    // nop
  }

  caf::event_based_actor* self;
  /// Guards everything below: the actor's handlers and the poll callbacks
  /// (which run on the blocking gateway's reader thread) take turns.
  std::mutex mtx;
  /// This actor (for messages to itself from any thread).
  caf::actor me;
  /// The thread running the actor's handlers.
  std::thread::id actor_thread;
  /// The blocking gateway's direct entry: poll replies are handled right on
  /// its reader thread, without a hop through this actor's mailbox.
  gateway_direct_ptr direct;
  std::weak_ptr<worker_state> weak;
  pool_core_ptr core;
  std::string id;
  int64_t created_ns;
  job_handler_ptr handler;
  gateway_actor blocking;
  client cli;
  caf::timespan command_timeout;
  std::string queue_key;
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
  bool requeue_armed = false;
  bool retry_armed = false;
  /// A poll failed: entries it popped may be lost, rebuild the queue.
  bool needs_resync = false;
  /// Whether to ask for the next batch before handling one: only while
  /// handlers are quick (a reply left unread past the poll's timeout would
  /// reset the connection).
  bool poll_ahead = true;
  bool polling = false;
  bool closed = false;

  // -- Redis helpers ----------------------------------------------------------

  caf::expected<resp::value> eval(const script& s,
                                  std::vector<std::string> args) {
    return cli.eval(s, {core->prefix}, std::move(args));
  }

  std::shared_ptr<const pool_membership> refresh();

  // -- handler calls ----------------------------------------------------------

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

  void stop_local(const std::string& key);

  void stop_all_local();

  // -- queue ------------------------------------------------------------------

  /// Asks for the next batch (`BLMPOP`). Called with `mtx` held, from the
  /// actor or from a poll callback.
  void poll();

  /// A poll reply (usually on the blocking gateway's reader thread).
  void on_poll(caf::expected<resp::value> r);

  /// Rebuilds the queue after a failed poll (see `pool_scripts::resync`).
  bool resync();

  void arm_retry();

  void process(std::vector<resp::value>& entries);

  void defer(std::vector<queue_entry>& items);

  /// Starts a batch of start entries: keys that no longer hash here are
  /// moved (fenced by epoch and membership revision); the others start at
  /// once if this worker's lease is valid, and are confirmed afterwards.
  void start_batch(std::vector<queue_entry> items);

  static std::string wire_text(std::string text);

  void run_starts(std::vector<queue_entry>& items);

  /// Confirms starts (and publishes their results); stops the jobs Redis
  /// says this worker no longer owns.
  bool confirm(std::vector<std::string> args);

  void on_stop(const queue_entry& e);

  void on_notify(const queue_entry& e);

  // -- moves ------------------------------------------------------------------

  void arm_requeue();

  /// Moves every job in `handoff` to the worker its key hashes to now.
  bool flush_handoff();

  /// Moves every job this worker still owns in Redis (after it left the
  /// membership), until `deadline`.
  void hand_over_owned(caf::timespan budget);

  void rebalance();

  void resume();

  /// Stops every local job and forgets every pending list (their jobs stay
  /// owned in Redis: rejoin re-queues them, close hands them over).
  void stop_everything();

  void rejoin();

  void close(bool shutdown);
};

} // namespace pulse::worker_detail
