#pragma once

/// Internal to the replica: its state, shared by the actor (`replica.cpp`),
/// its join, resync and notification handling (`replica_sync.cpp`) and its
/// subscribers (`replica_subscribers.cpp`); and the fast path that applies
/// in-order notifications on the pub/sub reader thread.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/optional.hpp>

#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/actors/rmap/propagation.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/actors/rmap/store.hpp"
#include "pulse/messages/pubsub.hpp"
#include "pulse/messages/redis.hpp"
#include "pulse/messages/rmap.hpp"

namespace pulse::replica_detail {


/// Most changes queued for a detailed subscriber that has not answered;
/// past it the queue is replaced by one `reset` change.
constexpr size_t max_queued_changes = 10000;

/// Delivery state of a coarse subscriber: one notification at a time, later
/// kinds coalesced.
struct coarse_sub {
  /// Whether a notification is unanswered.
  bool awaiting = false;
  /// When the unanswered notification went out.
  std::chrono::steady_clock::time_point since;
  /// The strongest kind seen while awaiting; sent once it answers.
  caf::optional<map_event_kind> pending;
};

/// Delivery state of a detailed subscriber: one `map_changes` request at a
/// time, later changes queued.
struct detailed_sub {
  /// Whether a `map_changes` request is unanswered.
  bool awaiting = false;
  /// When the unanswered changes went out.
  std::chrono::steady_clock::time_point since;
  /// Changes seen while awaiting (at most `max_queued_changes`).
  std::vector<map_change> queue;
};




/// What the replica actor shares with its fast path (the pub/sub reader
/// thread): the store, the revision and the join/resync flags, under one
/// mutex. The fast path applies a notification only when it is exactly the
/// next revision, the replica is joined and not resyncing, and nothing it
/// forwarded earlier is still waiting in the actor's mailbox (so order is
/// never broken); anything else goes to the actor as before.
struct apply_core {
  /// Guards the fields of this struct.
  std::mutex mtx;
  /// The local copy of the map.
  std::shared_ptr<rmap_store> store;
  /// The revision of `store`.
  uint64_t rev = 0;
  /// Whether the first snapshot was loaded.
  bool joined = false;
  /// Whether a resync (`HGETALL`) is in flight.
  bool syncing = false;
  /// Set when the replica closes: the store is frozen from then on.
  bool closed = false;
  /// Messages the fast path handed to the actor and it has not seen yet.
  uint64_t forwarded = 0;
  /// Whether the actor has subscribers or waiters to tell about changes;
  /// when not, the fast path does not wake it.
  bool listeners = false;
  /// Changes applied by the fast path without telling the actor.
  uint64_t silent_applied = 0;
  /// The replica actor, told about changes the fast path applied.
  caf::actor_addr owner;
  /// The map's channel; messages of other channels are not applied.
  std::string channel;
  /// Times this process' own writes (told of every applied revision).
  std::shared_ptr<propagation_probe> probe;

  /// Applies `n` (pre: lock held, n.rev == rev + 1) and returns the change.
  map_change apply_locked(map_notification& n) {
    map_change change;
    change.rev = n.rev;
    switch (n.kind) {
      case map_notification::op::set: {
        change.kind = map_event_kind::change;
        change.key = n.key;
        if (n.key == "=rev" || n.key == "=kind")
          break;
        change.new_value = n.value;
        auto prev = store->put(n.key, std::move(n.value));
        change.existed = static_cast<bool>(prev);
        if (prev)
          change.old_value = std::move(*prev);
        break;
      }
      case map_notification::op::del: {
        change.kind = map_event_kind::del;
        change.key = n.key;
        if (n.key == "=rev" || n.key == "=kind")
          break;
        auto prev = store->erase(n.key);
        change.existed = static_cast<bool>(prev);
        if (prev)
          change.old_value = std::move(*prev);
        break;
      }
      case map_notification::op::reset:
      case map_notification::op::destroy:
        change.kind = map_event_kind::reset;
        store->replace(rmap_store::image{});
        break;
    }
    rev = n.rev;
    store->rev(rev);
    probe->applied(rev);
    return change;
  }

  /// Runs on the pub/sub reader thread. Returns true if it applied `msg`.
  bool fast_path(const pubsub_message& msg) {
    if (msg.channel != channel)
      return false;
    auto n = decode_notification(msg.payload);
    std::unique_lock<std::mutex> guard{mtx};
    if (closed)
      return true; // frozen: swallow, there is no actor to tell
    if (!n || !joined || syncing || forwarded > 0 || n->rev != rev + 1) {
      ++forwarded; // the actor takes it from here
      return false;
    }
    auto change = apply_locked(*n);
    if (!listeners) {
      ++silent_applied;
      return true;
    }
    guard.unlock();
    if (auto hdl = caf::actor_cast<replica_impl_actor>(owner))
      caf::anon_send(hdl, rp_applied_atom::value, std::move(change));
    return true;
  }
};

/// State of the replica actor (`replica.cpp`).
struct replica_state {
  /// Creates the state and the `apply_core` that shares `store` and
  /// `probe` (never null).
  replica_state(replica_impl_actor::pointer self, std::string name,
                std::shared_ptr<rmap_store> store, map_options opts,
                gateway_actor gw, pubsub_actor ps,
                std::shared_ptr<propagation_probe> probe)
    : self(self),
      name(std::move(name)),
      opts(opts),
      channel(rmap_scripts::updates_channel(this->name)),
      content_key(rmap_scripts::content_key(this->name)),
      store(store),
      core(std::make_shared<apply_core>()),
      gw(std::move(gw)),
      ps(std::move(ps)),
      retry(std::chrono::milliseconds{50}, std::chrono::seconds{5}) {
    core->store = std::move(store);
    core->owner = self->address();
    core->channel = channel;
    core->probe = std::move(probe);
  }

  /// The replica actor.
  replica_impl_actor::pointer self;
  /// The map's name.
  std::string name;
  /// The map's options.
  map_options opts;
  /// The map's notification channel, `map:<name>:updates`.
  std::string channel;
  /// The hash holding the map, `map:<name>:content`.
  std::string content_key;
  /// The local copy of the map (shared with `core`).
  std::shared_ptr<rmap_store> store;
  /// What the actor shares with the fast path.
  std::shared_ptr<apply_core> core;
  /// The gateway for `HGETALL` and the write scripts.
  gateway_actor gw;
  /// The pub/sub actor that delivers the notifications.
  pubsub_actor ps;
  /// Back-off of failed subscribes and resyncs.
  backoff retry;
  /// Whether the subscription to `channel` succeeded.
  bool subscribed = false;
  /// Set when a resync was asked for while one was in flight.
  bool resync_again = false;
  /// Notifications held back while joining or resyncing, or after a gap.
  std::vector<map_notification> buffer;
  /// Pending `wait_rev_atom` requests by target revision.
  std::multimap<uint64_t, caf::response_promise> waiters;
  /// Pending `resync_atom` requests, answered after the next snapshot.
  std::vector<caf::response_promise> resync_waiters;
  /// Coarse subscribers (`map_event_atom`).
  std::map<caf::actor, coarse_sub> coarse;
  /// Detailed subscribers (`map_changes`).
  std::map<caf::actor, detailed_sub> detailed;
  /// Counters; `stats_atom` adds `rev`, `subscribers` and fast-path applies.
  replica_stats stats;
  /// Whether the slow-subscriber watchdog is armed.
  bool watch_armed = false;

  // -- join and resync --------------------------------------------------------

  /// Subscribes to `channel` (with the fast path), then resyncs; retries
  /// with back-off on failure.
  void start();

  /// Loads a snapshot with `HGETALL content_key`; while one is in flight,
  /// only sets `resync_again`. Retries with back-off on failure.
  void resync();

  /// Returns the revision of the store (under the lock).
  uint64_t current_rev();

  /// Replaces the store with the `HGETALL` reply `v` and adopts its `=rev`,
  /// notifies subscribers, applies buffered notifications, answers waiters.
  void on_snapshot(resp::value& v);

  /// Returns whether a resync is in flight (under the lock).
  bool is_syncing();

  // -- notifications ----------------------------------------------------------

  /// A message the fast path did not apply (it counted it as forwarded):
  /// buffered while joining or resyncing, applied otherwise.
  void on_message(const pubsub_message& msg);

  /// Applies `n` if it is the next revision; ignores a duplicate, and on a
  /// gap or regression buffers `n` and resyncs.
  void apply(map_notification& n);

  /// Notifies subscribers of an applied change (by either path).
  void after_apply(const map_change& change);

  /// Answers every waiter whose target revision is at most `rev`.
  void release_waiters(uint64_t rev);

  // -- subscribers ------------------------------------------------------------

  /// Adds a subscriber (monitored): coarse or `detailed`.
  bool subscribe(const caf::actor& who, bool detailed);

  /// Removes a subscriber; returns whether it was one.
  bool unsubscribe(const caf::actor& who);

  /// Sends `(map_event_atom, name, kind)` to `who`, awaiting its bool.
  void send_coarse(const caf::actor& who, map_event_kind kind);

  /// Marks `who` as answered and sends its pending kind, if any.
  void coarse_answered(const caf::actor& who);

  /// Tells every coarse subscriber about `kind`; for one still awaiting an
  /// answer, keeps the strongest pending kind (reset > del > change).
  void notify_coarse(map_event_kind kind);

  /// Sends `xs` to `who` as `map_changes`, awaiting its bool.
  void send_detailed(const caf::actor& who, std::vector<map_change> xs);

  /// Marks `who` as answered and sends its queued changes, if any.
  void detailed_answered(const caf::actor& who);

  /// Sends `c` to every detailed subscriber, or queues it for one still
  /// awaiting an answer.
  void notify_detailed(const map_change& c);

  /// Drops a subscriber whose request failed: it died (silently) or
  /// answered something other than a bool (with a warning).
  void drop(const caf::actor& who, const caf::error& err);

  /// Arms the watchdog for subscribers that do not answer.
  void arm_watch();

  /// Names every subscriber that has owed an answer for
  /// `opts.slow_subscriber` (notifications for it coalesce or queue
  /// meanwhile).
  void watch();

  /// Tells the fast path whether applied changes need the actor.
  void update_listeners();

  /// Removes the subscribers of the terminated actor `addr`.
  void on_down(const caf::actor_addr& addr);

  /// Freezes the store, unsubscribes from `channel` and fails every waiter
  /// with `errc::closed`.
  void close();
};

} // namespace pulse::replica_detail
