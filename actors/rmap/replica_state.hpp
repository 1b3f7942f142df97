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

#include <caf/event_based_actor.hpp>
#include <caf/optional.hpp>

#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/actors/rmap/store.hpp"
#include "pulse/messages/pubsub.hpp"
#include "pulse/messages/redis.hpp"
#include "pulse/messages/rmap.hpp"

namespace pulse::replica_detail {


constexpr size_t max_queued_changes = 10000;

struct coarse_sub {
  bool awaiting = false;
  /// When the unanswered notification went out.
  std::chrono::steady_clock::time_point since;
  caf::optional<map_event_kind> pending;
};

struct detailed_sub {
  bool awaiting = false;
  /// When the unanswered changes went out.
  std::chrono::steady_clock::time_point since;
  std::vector<map_change> queue;
};




/// What the replica actor shares with its fast path (the pub/sub reader
/// thread): the store, the revision and the join/resync flags, under one
/// mutex. The fast path applies a notification only when it is exactly the
/// next revision, the replica is joined and not resyncing, and nothing it
/// forwarded earlier is still waiting in the actor's mailbox (so order is
/// never broken); anything else goes to the actor as before.
struct apply_core {
  std::mutex mtx;
  std::shared_ptr<rmap_store> store;
  uint64_t rev = 0;
  bool joined = false;
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
  caf::actor_addr owner;
  std::string channel;

  // Applies `n` (pre: lock held, n.rev == rev + 1) and returns the change.
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
        store->replace({});
        break;
    }
    rev = n.rev;
    store->rev(rev);
    return change;
  }

  // Runs on the pub/sub reader thread. Returns true if it applied `msg`.
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
    if (auto hdl = caf::actor_cast<caf::actor>(owner))
      caf::anon_send(hdl, rp_applied_atom::value, std::move(change));
    return true;
  }
};

struct replica_state {
  replica_state(caf::event_based_actor* self, std::string name,
                std::shared_ptr<rmap_store> store, map_options opts,
                gateway_actor gw, pubsub_actor ps)
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
  }

  caf::event_based_actor* self;
  std::string name;
  map_options opts;
  std::string channel;
  std::string content_key;
  std::shared_ptr<rmap_store> store;
  std::shared_ptr<apply_core> core;
  gateway_actor gw;
  pubsub_actor ps;
  backoff retry;
  bool subscribed = false;
  bool resync_again = false;
  std::vector<map_notification> buffer;
  std::multimap<uint64_t, caf::response_promise> waiters;
  std::vector<caf::response_promise> resync_waiters;
  std::map<caf::actor, coarse_sub> coarse;
  std::map<caf::actor, detailed_sub> detailed;
  replica_stats stats;
  bool watch_armed = false;

  // -- join and resync --------------------------------------------------------

  void start();

  void resync();

  uint64_t current_rev();

  void on_snapshot(resp::value& v);

  bool is_syncing();

  // -- notifications ----------------------------------------------------------

  // A message the fast path did not apply (it counted it as forwarded).
  void on_message(const pubsub_message& msg);

  void apply(map_notification& n);

  // Notifies subscribers of an applied change (by either path).
  void after_apply(const map_change& change);

  void release_waiters(uint64_t rev);

  // -- subscribers ------------------------------------------------------------

  /// Adds a subscriber (monitored): coarse or `detailed`.
  bool subscribe(const caf::actor& who, bool detailed);

  /// Removes a subscriber; returns whether it was one.
  bool unsubscribe(const caf::actor& who);

  void send_coarse(const caf::actor& who, map_event_kind kind);

  void coarse_answered(const caf::actor& who);

  void notify_coarse(map_event_kind kind);

  void send_detailed(const caf::actor& who, std::vector<map_change> xs);

  void detailed_answered(const caf::actor& who);

  void notify_detailed(const map_change& c);

  // Drops a subscriber whose request failed: it died (silently) or
  // answered something other than a bool (with a warning).
  void drop(const caf::actor& who, const caf::error& err);

  // Arms the watchdog for subscribers that do not answer.
  void arm_watch();

  // Names every subscriber that has owed an answer for `opts.slow_subscriber`
  // (notifications for it coalesce or queue meanwhile).
  void watch();

  // Tells the fast path whether applied changes need the actor.
  void update_listeners();

  void on_down(const caf::actor_addr& addr);

  void close();
};

} // namespace pulse::replica_detail
