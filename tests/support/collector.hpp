#pragma once

/// A subscriber actor for reader/sink tests: records every event it gets.

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/all.hpp>

#include "pulse/messages/streaming.hpp"

namespace pulse::test {

struct event_inbox {
  std::mutex mtx;
  std::vector<event> events;
  /// Optional delay before replying to each batch (slow consumer).
  std::chrono::milliseconds delay{0};

  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return events.size();
  }
  std::vector<event> snapshot() {
    std::lock_guard<std::mutex> guard{mtx};
    return events;
  }
};

/// Records events into `box` and replies `true`. If `sink` is set, acks
/// each event to it (auto-ack).
inline caf::behavior collector(caf::event_based_actor* self,
                               std::shared_ptr<event_inbox> box,
                               caf::actor sink) {
  return {
    [=](event_batch& batch) {
      if (box->delay.count() > 0)
        std::this_thread::sleep_for(box->delay);
      std::lock_guard<std::mutex> guard{box->mtx};
      for (auto& ev : batch.events) {
        if (sink)
          self->send(sink, ack_atom::value, ev.stream, ev.id);
        box->events.push_back(ev);
      }
      return true;
    },
  };
}

} // namespace pulse::test
