#include "actors/rmap/replica.hpp"


#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/redis/backoff.hpp"
#include "actors/rmap/encoding.hpp"
#include "actors/rmap/ops.hpp"
#include "runtime/errors.hpp"
#include "runtime/log.hpp"
#include "runtime/names.hpp"
#include "actors/rmap/scripts.hpp"
#include "actors/redis/services.hpp"

namespace pulse {

namespace {

using rp_retry_atom = caf::atom_constant<caf::atom("rp_retry")>;

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

using rp_applied_atom = caf::atom_constant<caf::atom("rp_applied")>;

/// `(rp_watch_atom)`: checks for subscribers that have not answered.
using rp_watch_atom = caf::atom_constant<caf::atom("rp_watch")>;


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

  void start() {
    auto c = core;
    auto fast = std::make_shared<std::function<bool(const pubsub_message&)>>(
      [c](const pubsub_message& msg) { return c->fast_path(msg); });
    self
      ->request(ps, caf::infinite, sub_atom::value, channel,
                caf::actor_cast<caf::actor>(self), direct_handler{fast})
      .then(
        [this](bool) {
          subscribed = true;
          resync();
        },
        [this](caf::error& err) {
          log::warn("map subscribe failed map={} error=\"{}\"", name, err);
          self->delayed_send(self, retry.next(), rp_retry_atom::value);
        });
  }

  void resync() {
    {
      std::lock_guard<std::mutex> guard{core->mtx};
      if (core->syncing) {
        resync_again = true;
        return;
      }
      core->syncing = true;
    }
    self
      ->request(gw, caf::infinite, cmd_atom::value,
                make_command("HGETALL", content_key))
      .then([this](resp::value& v) { on_snapshot(v); },
            [this](caf::error& err) {
              {
                std::lock_guard<std::mutex> guard{core->mtx};
                core->syncing = false;
              }
              log::warn("map resync failed map={} error=\"{}\"", name, err);
              self->delayed_send(self, retry.next(), rp_retry_atom::value);
            });
  }

  uint64_t current_rev() {
    std::lock_guard<std::mutex> guard{core->mtx};
    return core->rev;
  }

  void on_snapshot(resp::value& v) {
    retry.reset();
    ++stats.resyncs;
    rmap_store::content fresh;
    uint64_t snap_rev = 0;
    std::string kind;
    for (size_t i = 0; i + 1 < v.elements.size(); i += 2) {
      auto& k = v.elements[i].str;
      auto& val = v.elements[i + 1].str;
      if (k == "=rev") {
        auto r = resp::value::make_bulk(val).as_integer();
        snap_rev = r && *r > 0 ? static_cast<uint64_t>(*r) : 0;
      } else if (k == "=kind") {
        kind = val;
      } else {
        fresh.emplace(std::move(k), std::move(val));
      }
    }
    // The strongest kind this resync stands for.
    auto ev = kind == "del"                           ? map_event_kind::del
              : kind == "reset" || kind == "destroy" ? map_event_kind::reset
                                                      : map_event_kind::change;
    std::vector<map_change> changes;
    bool first = false;
    {
      std::lock_guard<std::mutex> guard{core->mtx};
      if (core->joined && snap_rev <= core->rev)
        ev = map_event_kind::change;
      if (!detailed.empty()) {
        // Diff for detailed subscribers.
        auto old = store->snapshot();
        for (auto& [k, val] : fresh) {
          auto i = old.find(k);
          if (i == old.end())
            changes.push_back({map_event_kind::change, k, {}, val, false,
                               snap_rev});
          else if (i->second != val)
            changes.push_back({map_event_kind::change, k, i->second, val,
                               true, snap_rev});
        }
        for (auto& [k, val] : old)
          if (fresh.count(k) == 0)
            changes.push_back({map_event_kind::del, k, val, {}, true,
                               snap_rev});
      }
      store->replace(std::move(fresh));
      core->rev = snap_rev; // adopted even when lower (data loss, expiry)
      store->rev(snap_rev);
      first = !core->joined;
      core->joined = true;
      core->syncing = false;
    }
    for (auto& c : changes)
      notify_detailed(c);
    if (!first)
      notify_coarse(ev);
    // Messages that arrived during the resync.
    auto pending = std::move(buffer);
    buffer.clear();
    for (auto& n : pending) {
      if (is_syncing()) {
        buffer.push_back(std::move(n));
        continue;
      }
      if (n.rev <= current_rev()) {
        ++stats.ignored;
        continue;
      }
      apply(n);
    }
    auto rev = current_rev();
    release_waiters(rev);
    for (auto& rp : resync_waiters)
      rp.deliver(rev);
    resync_waiters.clear();
    if (resync_again) {
      resync_again = false;
      resync();
    }
  }

  bool is_syncing() {
    std::lock_guard<std::mutex> guard{core->mtx};
    return core->syncing;
  }

  // -- notifications ----------------------------------------------------------

  // A message the fast path did not apply (it counted it as forwarded).
  void on_message(const pubsub_message& msg) {
    if (msg.channel != channel)
      return;
    bool buffer_it = false;
    {
      std::lock_guard<std::mutex> guard{core->mtx};
      if (core->forwarded > 0)
        --core->forwarded;
      buffer_it = !core->joined || core->syncing;
    }
    auto n = decode_notification(msg.payload);
    if (!n) {
      ++stats.malformed;
      log::warn("map dropped malformed notification map={} error=\"{}\"",
                name, n.error());
      return;
    }
    if (buffer_it) {
      buffer.push_back(std::move(*n));
      return;
    }
    apply(*n);
  }

  void apply(map_notification& n) {
    std::unique_lock<std::mutex> guard{core->mtx};
    if (n.rev != core->rev + 1) {
      auto local = core->rev;
      guard.unlock();
      if (n.rev == local) {
        ++stats.ignored; // duplicate
        return;
      }
      // A gap (missed messages) or a regression (expiry, data loss).
      ++stats.gaps;
      log::info("map revision gap, resyncing map={} local={} got={}", name,
                local, n.rev);
      buffer.push_back(std::move(n));
      resync();
      return;
    }
    auto change = core->apply_locked(n);
    guard.unlock();
    after_apply(change);
  }

  // Notifies subscribers of an applied change (by either path).
  void after_apply(const map_change& change) {
    ++stats.applied;
    notify_coarse(change.kind);
    if (!detailed.empty())
      notify_detailed(change);
    release_waiters(change.rev);
  }

  void release_waiters(uint64_t rev) {
    auto end = waiters.upper_bound(rev);
    if (end == waiters.begin())
      return;
    for (auto i = waiters.begin(); i != end; ++i)
      i->second.deliver(rev);
    waiters.erase(waiters.begin(), end);
    update_listeners();
  }

  // -- subscribers ------------------------------------------------------------

  void send_coarse(const caf::actor& who, map_event_kind kind) {
    auto& sub = coarse[who];
    sub.awaiting = true;
    sub.since = std::chrono::steady_clock::now();
    arm_watch();
    self->request(who, caf::infinite, map_event_atom::value, name, kind)
      .then([this, who](bool) { coarse_answered(who); },
            [this, who](caf::error& err) { drop(who, err); });
  }

  void coarse_answered(const caf::actor& who) {
    auto i = coarse.find(who);
    if (i == coarse.end())
      return;
    i->second.awaiting = false;
    if (i->second.pending) {
      auto kind = *i->second.pending;
      i->second.pending = caf::none;
      send_coarse(who, kind);
    }
  }

  void notify_coarse(map_event_kind kind) {
    for (auto& [who, sub] : coarse) {
      if (sub.awaiting) {
        // Coalesce, keeping the strongest kind (reset > del > change).
        if (!sub.pending || *sub.pending < kind)
          sub.pending = kind;
      } else {
        send_coarse(who, kind);
      }
    }
  }

  void send_detailed(const caf::actor& who, std::vector<map_change> xs) {
    auto& sub = detailed[who];
    sub.awaiting = true;
    sub.since = std::chrono::steady_clock::now();
    arm_watch();
    self
      ->request(who, caf::infinite, map_changes{name, std::move(xs)})
      .then([this, who](bool) { detailed_answered(who); },
            [this, who](caf::error& err) { drop(who, err); });
  }

  void detailed_answered(const caf::actor& who) {
    auto i = detailed.find(who);
    if (i == detailed.end())
      return;
    i->second.awaiting = false;
    if (!i->second.queue.empty()) {
      auto xs = std::move(i->second.queue);
      i->second.queue.clear();
      send_detailed(who, std::move(xs));
    }
  }

  void notify_detailed(const map_change& c) {
    for (auto& [who, sub] : detailed) {
      if (!sub.awaiting) {
        send_detailed(who, {c});
        continue;
      }
      if (sub.queue.size() >= max_queued_changes) {
        // Too slow: replace the backlog by "re-read the map".
        map_change reset;
        reset.kind = map_event_kind::reset;
        reset.rev = c.rev;
        sub.queue.clear();
        sub.queue.push_back(reset);
        continue;
      }
      sub.queue.push_back(c);
    }
  }

  // Drops a subscriber whose request failed: it died (silently) or
  // answered something other than a bool (with a warning).
  void drop(const caf::actor& who, const caf::error& err) {
    auto n = coarse.erase(who) + detailed.erase(who);
    if (n > 0 && err != caf::sec::request_receiver_down)
      log::warn("map subscriber dropped: it did not answer a notification "
                "with a bool map={} subscriber={} error=\"{}\"",
                name, to_string(who), err);
    update_listeners();
  }

  // Arms the watchdog for subscribers that do not answer.
  void arm_watch() {
    if (watch_armed)
      return;
    watch_armed = true;
    self->delayed_send(self, opts.slow_subscriber, rp_watch_atom::value);
  }

  // Names every subscriber that has owed an answer for `opts.slow_subscriber`
  // (notifications for it coalesce or queue meanwhile).
  void watch() {
    watch_armed = false;
    auto now = std::chrono::steady_clock::now();
    bool any = false;
    auto check = [&](const caf::actor& who, bool awaiting,
                     std::chrono::steady_clock::time_point since) {
      if (!awaiting)
        return;
      any = true;
      if (now - since >= opts.slow_subscriber)
        log::warn("map subscriber has not answered a notification for {} ms "
                  "map={} subscriber={}",
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                    now - since)
                    .count(),
                  name, to_string(who));
    };
    for (auto& [who, sub] : coarse)
      check(who, sub.awaiting, sub.since);
    for (auto& [who, sub] : detailed)
      check(who, sub.awaiting, sub.since);
    if (any)
      arm_watch();
  }

  // Tells the fast path whether applied changes need the actor.
  void update_listeners() {
    std::lock_guard<std::mutex> guard{core->mtx};
    core->listeners = !coarse.empty() || !detailed.empty() || !waiters.empty();
  }

  void on_down(const caf::actor_addr& addr) {
    for (auto i = coarse.begin(); i != coarse.end();)
      i = i->first.address() == addr ? coarse.erase(i) : std::next(i);
    for (auto i = detailed.begin(); i != detailed.end();)
      i = i->first.address() == addr ? detailed.erase(i) : std::next(i);
    update_listeners();
  }

  void close() {
    {
      // Freeze the store before anything else: the pub/sub reader thread
      // may still call the fast path until the unsubscription is processed.
      std::lock_guard<std::mutex> guard{core->mtx};
      core->closed = true;
    }
    self->send(ps, unsub_atom::value, channel,
               caf::actor_cast<caf::actor>(self));
    auto err = make_error(errc::closed, "pulse map: " + name + " is stopped");
    for (auto& kvp : waiters)
      kvp.second.deliver(err);
    waiters.clear();
    for (auto& rp : resync_waiters)
      rp.deliver(err);
    resync_waiters.clear();
  }
};

caf::behavior replica_impl(caf::event_based_actor* self, std::string name,
                           std::shared_ptr<rmap_store> store, map_options opts,
                           gateway_actor gw, pubsub_actor ps) {
  auto st = std::make_shared<replica_state>(self, std::move(name),
                                            std::move(store), opts, gw, ps);
  self->set_down_handler(
    [st](const caf::down_msg& msg) { st->on_down(msg.source); });
  self->set_exit_handler([self, st](const caf::exit_msg& msg) {
    st->close();
    self->quit(msg.reason);
  });
  st->start();
  return {
    [st](const pubsub_message& msg) { st->on_message(msg); },
    [st](resub_atom, const std::string&) {
      // The subscription was lost: messages may be missing.
      bool joined = false;
      {
        std::lock_guard<std::mutex> guard{st->core->mtx};
        joined = st->core->joined;
      }
      if (joined)
        st->resync();
    },
    [st](rp_applied_atom, map_change& change) { st->after_apply(change); },
    [st](rp_watch_atom) { st->watch(); },
    [self, st](wait_rev_atom, uint64_t target) {
      auto rp = self->make_response_promise();
      bool ready = false;
      uint64_t rev = 0;
      {
        // Same lock as the fast path: either it already applied `target`,
        // or it will see `listeners` and tell us when it does.
        std::lock_guard<std::mutex> guard{st->core->mtx};
        rev = st->core->rev;
        ready = st->core->joined && rev >= target && !st->core->syncing;
        if (!ready)
          st->core->listeners = true;
      }
      if (ready)
        rp.deliver(rev);
      else
        st->waiters.emplace(target, rp);
    },
    [self, st](sub_atom, const caf::actor& who, bool want_details) {
      if (!who)
        return false;
      self->monitor(who);
      if (want_details)
        st->detailed.emplace(who, detailed_sub{});
      else
        st->coarse.emplace(who, coarse_sub{});
      st->update_listeners();
      return true;
    },
    [self, st](unsub_atom, const caf::actor& who) {
      auto n = st->coarse.erase(who) + st->detailed.erase(who);
      if (n > 0) {
        self->demonitor(who);
        st->update_listeners();
      }
      return n > 0;
    },
    [self, st](map_write_atom, map_write& w) {
      // One write, asynchronously: the reply comes from the gateway.
      auto rp = self->make_response_promise();
      auto args = rmap_ops::args_of(w, st->opts);
      if (!args) {
        rp.deliver(std::move(args.error()));
        return;
      }
      self
        ->request(st->gw, caf::infinite, eval_atom::value,
                  rmap_ops::script_of(w.op), rmap_ops::keys_of(st->name),
                  std::move(*args))
        .then(
          [rp, w](resp::value& v) mutable {
            auto r = rmap_ops::decode(w, v);
            if (r)
              rp.deliver(std::move(*r));
            else
              rp.deliver(std::move(r.error()));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    },
    [st](map_get_atom, const std::string& key)
      -> caf::result<caf::optional<std::string>> {
      return st->store->get(key);
    },
    [self, st](resync_atom) {
      auto rp = self->make_response_promise();
      st->resync_waiters.push_back(rp);
      st->resync();
    },
    [st](stats_atom) {
      auto r = st->stats;
      r.rev = st->current_rev();
      {
        std::lock_guard<std::mutex> guard{st->core->mtx};
        r.applied += st->core->silent_applied;
      }
      r.subscribers = st->coarse.size() + st->detailed.size();
      return r;
    },
    [st](rp_retry_atom) {
      if (!st->subscribed)
        st->start();
      else
        st->resync();
    },
  };
}

} // namespace

caf::expected<replica_actor> spawn_replica(services& rt, const std::string& name,
                                           std::shared_ptr<rmap_store> store,
                                           map_options opts) {
  if (auto err = validate_name(name, "pulse map"))
    return err;
  if (!store)
    return make_error(errc::invalid_argument, "pulse map: no store");
  if (opts.ttl.count() < 0)
    return make_error(errc::invalid_argument,
                      "pulse map: TTL must not be negative");
  auto hdl = opts.dedicated_thread
               ? rt.system().spawn<caf::detached>(replica_impl, name,
                                                  std::move(store), opts,
                                                  rt.gateway(), rt.pubsub())
               : rt.system().spawn(replica_impl, name, std::move(store), opts,
                                   rt.gateway(), rt.pubsub());
  rt.track(hdl);
  return caf::actor_cast<replica_actor>(hdl);
}

} // namespace pulse
