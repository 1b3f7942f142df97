#include "pulse/actors/rmap/replica_state.hpp"

#include <algorithm>

#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::replica_detail {

bool replica_state::subscribe(const caf::actor& who, bool want_details) {
  if (!who)
    return false;
  self->monitor(who);
  if (want_details)
    detailed.emplace(who, detailed_sub{});
  else
    coarse.emplace(who, coarse_sub{});
  update_listeners();
  return true;
}

bool replica_state::unsubscribe(const caf::actor& who) {
  auto n = coarse.erase(who) + detailed.erase(who);
  if (n > 0) {
    self->demonitor(who);
    update_listeners();
  }
  return n > 0;
}

void replica_state::send_coarse(const caf::actor& who, map_event_kind kind) {
  auto& sub = coarse[who];
  sub.awaiting = true;
  sub.since = std::chrono::steady_clock::now();
  arm_watch();
  self->request(who, caf::infinite, map_event_atom::value, name, kind)
    .then([this, who](bool) { coarse_answered(who); },
          [this, who](caf::error& err) { drop(who, err); });
}

void replica_state::coarse_answered(const caf::actor& who) {
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

void replica_state::notify_coarse(map_event_kind kind) {
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

void replica_state::send_detailed(const caf::actor& who, std::vector<map_change> xs) {
  auto& sub = detailed[who];
  sub.awaiting = true;
  sub.since = std::chrono::steady_clock::now();
  arm_watch();
  self
    ->request(who, caf::infinite, map_changes{name, std::move(xs)})
    .then([this, who](bool) { detailed_answered(who); },
          [this, who](caf::error& err) { drop(who, err); });
}

void replica_state::detailed_answered(const caf::actor& who) {
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

void replica_state::notify_detailed(const map_change& c) {
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

void replica_state::drop(const caf::actor& who, const caf::error& err) {
  auto n = coarse.erase(who) + detailed.erase(who);
  if (n > 0 && err != caf::sec::request_receiver_down)
    log::warn("map subscriber dropped: it did not answer a notification "
              "with a bool map={} subscriber={} error=\"{}\"",
              name, to_string(who), err);
  update_listeners();
}

void replica_state::arm_watch() {
  if (watch_armed)
    return;
  watch_armed = true;
  self->delayed_send(self, opts.slow_subscriber, rp_watch_atom::value);
}

void replica_state::watch() {
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

void replica_state::update_listeners() {
  std::lock_guard<std::mutex> guard{core->mtx};
  core->listeners = !coarse.empty() || !detailed.empty() || !waiters.empty();
}

void replica_state::on_down(const caf::actor_addr& addr) {
  for (auto i = coarse.begin(); i != coarse.end();)
    i = i->first.address() == addr ? coarse.erase(i) : std::next(i);
  for (auto i = detailed.begin(); i != detailed.end();)
    i = i->first.address() == addr ? detailed.erase(i) : std::next(i);
  update_listeners();
}

void replica_state::close() {
  {
    // Freeze the store before anything else: the pub/sub reader thread
    // may still call the fast path until the unsubscription is processed.
    std::lock_guard<std::mutex> guard{core->mtx};
    core->closed = true;
  }
  // Anonymous: nobody waits for the pub/sub actor's reply.
  caf::anon_send(ps, unsub_atom::value, channel,
                 pubsub_subscriber_actor{self});
  auto err = make_error(errc::closed, "pulse map: " + name + " is stopped");
  for (auto& kvp : waiters)
    kvp.second.deliver(err);
  waiters.clear();
  for (auto& rp : resync_waiters)
    rp.deliver(err);
  resync_waiters.clear();
}

} // namespace pulse::replica_detail
