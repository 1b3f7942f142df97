#pragma once

/// A pub/sub subscriber for tests that keeps what it receives.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "pulse/messages/pubsub.hpp"

namespace pulse::test {

/// What a `pubsub_inbox_subscriber` received, guarded by `mtx`.
struct pubsub_inbox {
  /// Guards `msgs` and `resubs`.
  std::mutex mtx;
  /// The messages, in order.
  std::vector<pubsub_message> msgs;
  /// The channels of the resubscribe notices, in order.
  std::vector<std::string> resubs;
  /// How many messages arrived.
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return msgs.size();
  }
  /// How many resubscribe notices arrived.
  size_t resub_count() {
    std::lock_guard<std::mutex> guard{mtx};
    return resubs.size();
  }
};

/// A subscriber of the pub/sub actor that records everything in `box`.
inline pubsub_subscriber_actor::behavior_type
pubsub_inbox_subscriber(pubsub_subscriber_actor::pointer,
                        std::shared_ptr<pubsub_inbox> box) {
  return {
    [=](const pubsub_message& m) {
      std::lock_guard<std::mutex> guard{box->mtx};
      box->msgs.push_back(m);
    },
    [=](resub_atom, const std::string& ch) {
      std::lock_guard<std::mutex> guard{box->mtx};
      box->resubs.push_back(ch);
    },
  };
}

} // namespace pulse::test
