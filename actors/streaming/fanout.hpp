#pragma once

/// Internal: delivery of event batches to the subscribers of a reader or
/// sink, with back-pressure. Not part of the public API.

#include <chrono>
#include <functional>
#include <string>
#include <set>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/streaming.hpp"

namespace pulse::detail {


/// Sends events to every subscriber in chunks of at most `chunk` events,
/// one chunk at a time: the next chunk (and the caller's next read) waits
/// until every subscriber answered. A subscriber that answers `false` or
/// dies is dropped; one that answers anything else (or fails) is dropped
/// with a warning naming what it answered. One that has owed an answer for
/// `slow_after` is named in a warning (checked every `slow_after` by one
/// watchdog timer, armed only while a chunk is out), since it holds back
/// every other subscriber and the next read.
class fanout {
public:
  /// `what` names the owner in logs (e.g. `sink orders`).
  fanout(caf::event_based_actor* self, size_t chunk, std::string what,
         caf::timespan slow_after = std::chrono::seconds{10});

  /// Handles a watchdog tick (see `fanout_check_atom`).
  void check();

  /// Adds a subscriber (monitored). Returns false if already present.
  bool add(const caf::actor& sub);

  /// Removes a subscriber. Returns false if absent.
  bool remove(const caf::actor& sub);

  /// Drops a subscriber that terminated.
  void on_down(const caf::actor_addr& addr);

  bool empty() const noexcept { return subs_.empty(); }
  size_t size() const noexcept { return subs_.size(); }

  /// Returns whether a delivery is in progress.
  bool busy() const noexcept { return busy_; }

  /// Delivers `events`; calls `done` when every subscriber answered every
  /// chunk (at once if there is nothing to deliver).
  void deliver(std::vector<event> events, std::function<void()> done);

private:
  void arm_watch();
  void next_chunk();
  void answered(const caf::actor_addr& who);

  caf::event_based_actor* self_;
  size_t chunk_;
  std::string what_;
  caf::timespan slow_after_;
  /// When the chunk in flight went out (for the watchdog).
  std::chrono::steady_clock::time_point sent_at_;
  /// Whether a watchdog tick is pending.
  bool watch_armed_ = false;
  std::set<caf::actor> subs_;
  bool busy_ = false;
  std::vector<event> events_;
  size_t pos_ = 0;
  /// Subscribers that still owe a reply for the current chunk.
  std::set<caf::actor_addr> waiting_;
  std::function<void()> done_;
};

} // namespace pulse::detail
