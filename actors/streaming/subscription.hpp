#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/optional.hpp>

#include "pulse/messages/streaming.hpp"

namespace pulse {

/// Plain C++ access to a reader or sink for code that is not an actor:
/// attaches a subscriber actor and hands events out one at a time.
///
/// Back-pressure reaches the caller: the subscriber answers a batch (and
/// so lets the reader or sink read on) only once `next` drained it.
/// Not thread-safe: one thread consumes a subscription.
class subscription {
public:
  /// Subscribes to a reader. Errors: the reader is gone.
  static caf::expected<std::unique_ptr<subscription>>
  attach(caf::actor_system& sys, const reader_actor& reader);

  /// Subscribes to a sink; use `ack`/`nack` for each event.
  static caf::expected<std::unique_ptr<subscription>>
  attach(caf::actor_system& sys, const sink_actor& sink);

  /// Unsubscribes.
  ~subscription();

  /// Waits up to `timeout` for the next event; `none` on timeout.
  caf::optional<event> next(std::chrono::milliseconds timeout);

  /// Acknowledges a sink event (`XACK`, batched by the sink).
  void ack(const event& ev);

  /// Reports a failed sink event: it is redelivered after the grace period
  /// and, after `max_deliveries`, dead-lettered with `error`.
  void nack(const event& ev, std::string error);

  struct shared_state;

private:
  subscription(caf::actor_system& sys, caf::actor source);
  caf::error subscribe();

  caf::actor_system& sys_;
  caf::actor source_;
  caf::actor sub_;
  std::shared_ptr<shared_state> state_;
};

} // namespace pulse
