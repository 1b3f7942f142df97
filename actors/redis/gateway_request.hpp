#pragma once

/// Internal to the gateway: one request's record and where its reply goes
/// (an actor's mailbox, or a blocking caller's slot).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <time.h>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>

#include "pulse/actors/redis/inline_unit.hpp"
#include "pulse/messages/redis.hpp"

namespace pulse::gateway_detail {

/// The clock of request deadlines.
using clock_type = std::chrono::steady_clock;

/// The monotonic clock at coarse resolution (a few ms, a cheap vDSO read):
/// plenty for request deadlines, and comparable with `clock_type::now()`
/// (both read CLOCK_MONOTONIC).
inline clock_type::time_point coarse_now() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return clock_type::time_point{std::chrono::seconds{ts.tv_sec}
                                + std::chrono::nanoseconds{ts.tv_nsec}};
}

/// A request that finds at most this many requests in flight is sent at
/// once by whoever enqueues it; behind more, it waits for the reader
/// thread's next flush (see `gateway_state::enqueue_locked`). Measured:
/// holding behind a single request added ~10 µs to a stream's add → sink
/// p50, and 16 keeps small batches and pool dispatches flowing while large
/// bursts of single commands still leave in few sends.
constexpr size_t send_at_once_up_to = 16;


/// Where a direct caller waits for its reply.
struct direct_slot {
  /// Guards `done` and `result`.
  std::mutex mtx;
  /// Signaled when the reply arrives.
  std::condition_variable cv;
  /// Whether the reply arrived.
  bool done = false;
  /// `done`, readable without the lock (the waiter's spin phase).
  std::atomic<bool> ready{false};
  /// The reply message (the result or a `caf::error`).
  caf::message result;
  /// Set for asynchronous direct requests: runs on the delivering thread.
  std::function<void(caf::message)> callback;

  /// Hands over the reply `msg`: runs `callback` if set, else stores `msg`
  /// and wakes the waiter.
  void put(caf::message msg) {
    if (callback) {
      auto f = std::move(callback);
      f(std::move(msg));
      return;
    }
    {
      std::lock_guard<std::mutex> guard{mtx};
      result = std::move(msg);
      done = true;
      ready.store(true, std::memory_order_release);
    }
    cv.notify_one();
  }
};

/// Where a reply goes. Built from a response promise in the gateway's
/// context; `deliver` is thread-safe (external enqueue), so the reader thread
/// answers requesters directly without a hop through the gateway. On a
/// reader thread the enqueue goes through its `inline_unit`, so a requester
/// woken by its reply runs there.
struct reply_target {
  /// The gateway, the sender of the response.
  caf::strong_actor_ptr self;
  /// The requester; null once answered.
  caf::strong_actor_ptr source;
  /// The request's forwarding stages; the next one gets the reply.
  caf::mailbox_element::forwarding_stack stages;
  /// The ID of the request message.
  caf::message_id id;

  /// Takes over answering the current message (like a response promise,
  /// but moving the sender and stages instead of copying them).
  static reply_target from(caf::event_based_actor* self) {
    reply_target t;
    auto* elem = self->current_mailbox_element();
    if (elem == nullptr || elem->mid.is_answered())
      return t;
    t.self = self->ctrl();
    t.source = std::move(elem->sender);
    t.stages = std::move(elem->stages);
    t.id = self->take_current_message_id();
    return t;
  }

  /// Set for direct callers: the reply goes into this slot instead of a
  /// message.
  std::shared_ptr<struct direct_slot> slot;

  /// Delivers `msg` (a reply or an error) to the slot or the requester.
  void deliver(caf::message msg);

  /// Delivers a successful reply value; to an actor as one allocation (the
  /// value inside the mailbox element, no separate message).
  void deliver_value(resp::value&& x);

  /// Delivers `msg` as a response message to the next stage or the source.
  void deliver_message(caf::message msg) {
    if (!stages.empty()) {
      auto next = std::move(stages.back());
      stages.pop_back();
      next->enqueue(caf::make_mailbox_element(std::move(source), id,
                                              std::move(stages),
                                              std::move(msg)),
                    detail::inline_unit::current());
    } else if (source && id.is_request()) {
      source->enqueue(caf::make_mailbox_element(std::move(self),
                                                id.response_id(), {},
                                                std::move(msg)),
                      detail::inline_unit::current());
    }
    source = nullptr;
  }
};

inline void reply_target::deliver_value(resp::value&& x) {
  if (slot || !stages.empty() || !source || !id.is_request()) {
    deliver(caf::make_message(std::move(x)));
    return;
  }
  source->enqueue(caf::make_mailbox_element(std::move(self), id.response_id(),
                                            {}, std::move(x)),
                  detail::inline_unit::current());
  source = nullptr;
}

inline void reply_target::deliver(caf::message msg) {
  if (slot) {
    auto s = std::move(slot);
    s->put(std::move(msg));
    return;
  }
  deliver_message(std::move(msg));
}

/// The parts of a batch or script request (kept out of `request` so the
/// common single command stays small).
struct request_body {
  /// The commands of a batch.
  std::vector<command> cmds;
  /// Eval only: the script, keys and args (kept to re-send on NOSCRIPT).
  script scr;
  /// The script's keys.
  std::vector<std::string> keys;
  /// The script's arguments.
  std::vector<std::string> args;
  /// The replies collected so far (batch).
  std::vector<resp::value> replies;
  /// `wait-replicas`: the reply of a single command or script, held until
  /// its `WAIT` reply arrives.
  resp::value held;
};

/// One request waiting for its replies.
struct request {
  /// What a request is: one command, a batch, a script, or the gateway's
  /// own `WAIT` after writes (`wait-replicas`; no requester).
  enum class type : uint8_t { single, batch, eval, wait };
  /// What this request is.
  type kind = type::single;
  /// Replies still owed by Redis.
  size_t owed = 0;
  /// Where the reply goes.
  reply_target to;
  /// When the request fails with `errc::timeout`.
  clock_type::time_point deadline;
  /// When it was written to the connection (`enqueue_locked`): the start
  /// of its latency.
  clock_type::time_point sent_at;
  /// The reply timeout; zero means the gateway's `command-timeout`.
  caf::timespan timeout{0};
  /// The command of a single request.
  command single;
  /// Batch and eval requests only.
  std::unique_ptr<request_body> body;
  /// Counted in `gateway_state::slow_requests` (came through the mailbox
  /// and is not in flight yet).
  bool counted = false;
  /// `wait-replicas`: the request writes, so its reply is held until the
  /// reply of the next `WAIT` on the connection (see
  /// `gateway_state::append_wait_locked`).
  bool waits = false;
  /// The bytes of its arguments (`request_bytes`), measured once where it
  /// enters the gateway.
  size_t bytes = 0;

  /// Returns the body, creating it on first use.
  request_body& b() {
    if (!body)
      body = std::make_unique<request_body>();
    return *body;
  }
};

/// A request as a message (a script re-sent after `NOSCRIPT`).
using request_ptr = std::shared_ptr<request>;

/// Returns the bytes of the strings `xs` (command arguments).
inline size_t bytes_of(const std::vector<std::string>& xs) {
  size_t n = 0;
  for (auto& x : xs)
    n += x.size();
  return n;
}

/// Returns the bytes of `req`'s arguments (keys, payloads, script args):
/// what `max-payload` limits and request deadlines grow with.
inline size_t request_bytes(const request& req) {
  switch (req.kind) {
    case request::type::single:
      return bytes_of(req.single.args);
    case request::type::batch: {
      size_t n = 0;
      for (auto& c : req.body->cmds)
        n += bytes_of(c.args);
      return n;
    }
    case request::type::eval:
      return bytes_of(req.body->keys) + bytes_of(req.body->args);
    case request::type::wait:
      return 0;
  }
  return 0;
}

} // namespace pulse::gateway_detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::gateway_detail::request_ptr)
