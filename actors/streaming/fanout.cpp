#include "pulse/actors/streaming/fanout.hpp"

#include <algorithm>

#include "pulse/runtime/log.hpp"

namespace pulse::detail {

fanout::fanout(caf::event_based_actor* self, size_t chunk, std::string what,
               caf::timespan slow_after)
  : self_(self),
    chunk_(std::max<size_t>(chunk, 1)),
    what_(std::move(what)),
    slow_after_(slow_after) {
  // nop
}

void fanout::arm_watch() {
  if (watch_armed_)
    return;
  watch_armed_ = true;
  self_->delayed_send(self_, slow_after_, fanout_check_atom::value);
}

void fanout::check() {
  watch_armed_ = false;
  if (waiting_.empty())
    return; // nothing is owed
  auto owed = std::chrono::steady_clock::now() - sent_at_;
  if (owed >= slow_after_)
    for (auto& addr : waiting_)
      log::warn("{} subscriber has not answered its event batch for {} ms "
                "subscriber={} (it holds back delivery to every subscriber)",
                what_,
                std::chrono::duration_cast<std::chrono::milliseconds>(owed)
                  .count(),
                to_string(addr));
  arm_watch();
}

bool fanout::add(const caf::actor& sub) {
  if (!sub || !subs_.insert(sub).second)
    return false;
  self_->monitor(sub);
  return true;
}

bool fanout::remove(const caf::actor& sub) {
  if (subs_.erase(sub) == 0)
    return false;
  self_->demonitor(sub);
  return true;
}

void fanout::on_down(const caf::actor_addr& addr) {
  for (auto i = subs_.begin(); i != subs_.end(); ++i)
    if (i->address() == addr) {
      subs_.erase(i);
      break;
    }
  // A subscriber that died without answering must not stall delivery.
  answered(addr);
}

void fanout::answered(const caf::actor_addr& who) {
  if (waiting_.erase(who) > 0 && waiting_.empty())
    next_chunk();
}

void fanout::deliver(std::vector<event> events, std::function<void()> done) {
  events_ = std::move(events);
  pos_ = 0;
  done_ = std::move(done);
  busy_ = true;
  next_chunk();
}

void fanout::next_chunk() {
  if (pos_ >= events_.size() || subs_.empty()) {
    busy_ = false;
    events_.clear();
    auto done = std::move(done_);
    done_ = nullptr;
    if (done)
      done();
    return;
  }
  auto end = std::min(events_.size(), pos_ + chunk_);
  event_batch batch;
  if (pos_ == 0 && end == events_.size()) {
    batch.events = std::move(events_);
    events_.clear();
    pos_ = 0;
  } else {
    batch.events.assign(std::make_move_iterator(events_.begin() + pos_),
                        std::make_move_iterator(events_.begin() + end));
    pos_ = end;
  }
  // One message shared by all subscribers (copy-on-write): no per-subscriber
  // copy of the events.
  auto msg = caf::make_message(std::move(batch));
  std::vector<caf::actor> targets{subs_.begin(), subs_.end()};
  for (auto& sub : targets)
    waiting_.insert(sub.address());
  sent_at_ = std::chrono::steady_clock::now();
  arm_watch();
  for (auto& sub : targets) {
    auto addr = sub.address();
    self_->request(sub, caf::infinite, msg)
      .then(
        [this, sub, addr](bool keep) {
          if (!keep)
            remove(sub);
          answered(addr);
        },
        [this, sub, addr](caf::error& err) {
          // Down subscribers are handled by `on_down`; anything else is a
          // subscriber that answered something other than a bool.
          if (remove(sub) && err != caf::sec::request_receiver_down)
            log::warn("{} dropped a subscriber that did not answer its event "
                      "batch with a bool subscriber={} error=\"{}\"",
                      what_, to_string(addr), err);
          answered(addr);
        });
  }
}

} // namespace pulse::detail
