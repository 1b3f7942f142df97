#include "actors/redis/gateway.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <time.h>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/response_promise.hpp>

#include "actors/redis/link.hpp"
#include "runtime/errors.hpp"
#include "runtime/log.hpp"

namespace pulse {

namespace {

using clock_type = std::chrono::steady_clock;

/// The monotonic clock at coarse resolution (a few ms, a cheap vDSO read):
/// plenty for request deadlines, and comparable with `clock_type::now()`
/// (both read CLOCK_MONOTONIC).
clock_type::time_point coarse_now() {
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

using gw_tick_atom = caf::atom_constant<caf::atom("gw_tick")>;
using gw_resend_atom = caf::atom_constant<caf::atom("gw_resend")>;

/// Where a direct caller waits for its reply.
struct direct_slot {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  /// `done`, readable without the lock (the waiter's spin phase).
  std::atomic<bool> ready{false};
  caf::message result;
  /// Set for asynchronous direct requests: runs on the delivering thread.
  std::function<void(caf::message)> callback;

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
/// answers requesters directly without a hop through the gateway.
struct reply_target {
  caf::strong_actor_ptr self;
  caf::strong_actor_ptr source;
  caf::mailbox_element::forwarding_stack stages;
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

  void deliver(caf::message msg);

  /// Delivers a successful reply value; to an actor as one allocation (the
  /// value inside the mailbox element, no separate message).
  void deliver_value(resp::value&& x);

  void deliver_message(caf::message msg) {
    if (!stages.empty()) {
      auto next = std::move(stages.back());
      stages.pop_back();
      next->enqueue(caf::make_mailbox_element(std::move(source), id,
                                              std::move(stages),
                                              std::move(msg)),
                    nullptr);
    } else if (source && id.is_request()) {
      source->enqueue(caf::make_mailbox_element(std::move(self),
                                                id.response_id(), {},
                                                std::move(msg)),
                      nullptr);
    }
    source = nullptr;
  }
};

void reply_target::deliver_value(resp::value&& x) {
  if (slot || !stages.empty() || !source || !id.is_request()) {
    deliver(caf::make_message(std::move(x)));
    return;
  }
  source->enqueue(caf::make_mailbox_element(std::move(self), id.response_id(),
                                            {}, std::move(x)),
                  nullptr);
  source = nullptr;
}

void reply_target::deliver(caf::message msg) {
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
  std::vector<std::string> keys;
  std::vector<std::string> args;
  /// The replies collected so far (batch).
  std::vector<resp::value> replies;
};

/// One request waiting for its replies.
struct request {
  enum class type : uint8_t { single, batch, eval };
  type kind = type::single;
  /// Replies still owed by Redis.
  size_t owed = 0;
  reply_target to;
  clock_type::time_point deadline;
  caf::timespan timeout{0};
  /// The command of a single request.
  command single;
  /// Batch and eval requests only.
  std::unique_ptr<request_body> body;
  /// Counted in `gateway_state::slow_requests` (came through the mailbox
  /// and is not in flight yet).
  bool counted = false;

  request_body& b() {
    if (!body)
      body = std::make_unique<request_body>();
    return *body;
  }
};

using request_ptr = std::shared_ptr<request>;

} // namespace

} // namespace pulse

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::request_ptr)

namespace pulse {

namespace {

struct gateway_state {
  gateway_state(caf::event_based_actor* self, const redis_options& opts,
                gateway_role role)
    : self(self),
      opts(opts),
      role(role),
      conn(self, opts,
           role == gateway_role::blocking ? "blocking" : "pipelined") {
    conn.guard_with(&mtx);
    self_addr = self->address();
  }

  /// Normally closed on the gateway's thread (`on_exit`); this is the
  /// fallback so no requester ever waits forever.
  ~gateway_state() {
    if (!closing)
      close_all();
  }

  caf::event_based_actor* self;
  redis_options opts;
  gateway_role role;
  detail::link conn;
  /// Written to Redis, waiting for replies (FIFO). Shared with the reader
  /// thread, which pops and answers; guarded by `mtx`.
  std::mutex mtx;
  std::deque<request> in_flight;
  /// Waiting for a connection (gateway context only).
  std::deque<request> queued;
  /// Request messages that went through the mailbox and are not in flight
  /// (or answered) yet; guarded by `mtx`. While there are any, new requests
  /// take the mailbox too, so each sender's requests reach Redis in the
  /// order it sent them.
  size_t slow_requests = 0;
  /// The connection is about to be reset (a request timed out or was
  /// canceled): late replies could be matched to new requests, so nothing
  /// new is written to it (guarded by `mtx`; cleared when the next
  /// connection is up).
  bool broken = false;
  /// Scripts already sent on this connection (EVALSHA from now on).
  std::unordered_set<std::string> scripts;
  /// Counters touched by the reader thread.
  std::atomic<uint64_t> replies{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> script_reloads{0};
  gateway_stats stats;
  std::atomic<bool> timer_armed{false};
  std::atomic<uint64_t> sent_commands{0};
  caf::actor_addr self_addr;
  bool closing = false;
  /// A finished request waiting for delivery (reader thread only).
  struct finished {
    reply_target to;
    caf::message msg;
    resp::value value;
    bool has_value;
  };
  /// Reused by `on_replies` (reader thread only).
  std::vector<finished> finished_;

  caf::timespan tick_interval() const {
    auto t = opts.command_timeout / 10;
    return std::clamp(t, caf::timespan{std::chrono::milliseconds{1}},
                      caf::timespan{std::chrono::milliseconds{100}});
  }

  void arm_timer() {
    if (timer_armed)
      return;
    bool busy = !queued.empty();
    if (!busy) {
      std::lock_guard<std::mutex> guard{mtx};
      busy = !in_flight.empty();
    }
    if (!busy)
      return;
    timer_armed = true;
    self->delayed_send(self, tick_interval(), gw_tick_atom::value);
  }

  // Runs on a direct caller's thread: makes sure a timeout tick is armed
  // for what it just put in flight.
  void arm_timer_from_outside() {
    if (!timer_armed.exchange(true))
      if (auto hdl = caf::actor_cast<caf::actor>(self_addr))
        caf::anon_send(hdl, gw_tick_atom::value);
  }

  // Pre: `mtx` not held when `req.counted` (counted requests are never in
  // flight, and in-flight requests are the only ones failed under the lock).
  void fail(request& req, const caf::error& err) {
    if (req.counted) {
      std::lock_guard<std::mutex> guard{mtx};
      settle(req);
    }
    ++errors;
    if (code_of(err) == errc::timeout)
      ++stats.timeouts;
    req.to.deliver(caf::make_message(err));
  }

  void submit(request req) {
    if (closing) {
      fail(req, make_error(errc::closed, "gateway is shutting down"));
      return;
    }
    apply_timeout(req);
    if (usable()) {
      if (send(std::move(req)))
        conn.flush_later();
    } else if (queued.size() >= opts.max_queued) {
      fail(req, make_error(errc::overloaded,
                           "redis unreachable and "
                             + std::to_string(queued.size())
                             + " requests already queued"));
      return;
    } else {
      queued.emplace_back(std::move(req));
      conn.connect();
    }
    arm_timer();
  }

  // Resolves the request's timeout (zero: the gateway's default) and sets
  // its deadline.
  void apply_timeout(request& req) {
    if (req.timeout.count() <= 0)
      req.timeout = opts.command_timeout;
    req.deadline = coarse_now() + req.timeout;
  }

  // Appends the request's encoding to the output buffer and the request to
  // `in_flight` (pre: `mtx` held; the reader finds the entry before the
  // reply can arrive). Scripts go as EVAL the first time a connection sees
  // them, as EVALSHA afterwards.
  //
  // Returns whether the caller must flush: yes while few requests are in
  // flight (latency first). With more in flight, the bytes wait for the
  // reader thread instead: it flushes after every chunk of replies, and a
  // reply for the requests ahead is bound to come (or the connection drops,
  // failing everything). Redis runs a connection's commands in order, so
  // holding them behind that many costs little latency, and a burst of
  // requests from many actors leaves in one send instead of one each.
  bool enqueue_locked(request req) {
    bool idle = in_flight.size() <= send_at_once_up_to;
    auto& out = conn.output();
    switch (req.kind) {
      case request::type::single:
        resp::encode(out, req.single.args);
        req.owed = 1;
        break;
      case request::type::batch:
        for (auto& cmd : req.body->cmds)
          resp::encode(out, cmd.args);
        req.owed = req.body->cmds.size();
        break;
      case request::type::eval: {
        auto& b = *req.body;
        auto nkeys = std::to_string(b.keys.size());
        if (scripts.count(b.scr.sha1) > 0) {
          resp::encode(out, {"EVALSHA", b.scr.sha1, nkeys}, {&b.keys, &b.args});
        } else {
          resp::encode(out, {"EVAL", b.scr.source, nkeys}, {&b.keys, &b.args});
          scripts.insert(b.scr.sha1);
        }
        req.owed = 1;
        break;
      }
    }
    sent_commands += req.owed;
    in_flight.emplace_back(std::move(req));
    return idle;
  }

  // Takes every in-flight request out (under the lock) and fails them after
  // releasing it: a failure may run a direct caller's callback, which may
  // call this gateway again. With `mark_broken`, a connection that had
  // requests in flight takes no new ones until the next one is up (the
  // caller resets it). Returns whether there were any.
  bool fail_in_flight(const caf::error& err, bool mark_broken = false) {
    std::deque<request> dead;
    {
      std::lock_guard<std::mutex> guard{mtx};
      dead.swap(in_flight);
      if (mark_broken && !dead.empty())
        broken = true;
    }
    for (auto& req : dead)
      fail(req, err);
    return !dead.empty();
  }

  // Pre: `mtx` held. Takes a request out of `slow_requests`.
  void settle(request& req) {
    if (req.counted) {
      req.counted = false;
      --slow_requests;
    }
  }

  // Whether new requests may be written now (owner thread).
  bool usable() {
    std::lock_guard<std::mutex> guard{mtx};
    return conn.connected() && !broken;
  }

  // Owner path; returns whether to flush (see `enqueue_locked`).
  bool send(request req) {
    std::lock_guard<std::mutex> guard{mtx};
    settle(req);
    return enqueue_locked(std::move(req));
  }

  // Pre: `mtx` held. Whether a request may skip the mailbox now: connected,
  // usable, and no earlier request still waiting in the mailbox or queue.
  bool direct_ok_locked() const {
    return !closing && !broken && conn.connected() && slow_requests == 0;
  }

  // Pre: `guard` holds `mtx` and `direct_ok_locked()`. Puts `req` in flight
  // from the caller's thread, sending at once when few are in flight (a
  // hard send failure is also seen by the reader thread, which drops the
  // connection and fails what is in flight, this request included).
  void put_direct(request req, std::unique_lock<std::mutex>& guard) {
    apply_timeout(req);
    if (enqueue_locked(std::move(req)))
      conn.send_pending(guard, false);
  }

  // Runs on a direct caller's thread. Returns false (and leaves `req`
  // untouched) when the gateway cannot take it directly.
  bool try_direct(request& req) {
    {
      std::unique_lock<std::mutex> guard{mtx};
      if (!direct_ok_locked())
        return false;
      put_direct(std::move(req), guard);
    }
    arm_timer_from_outside();
    return true;
  }

  // Runs on a sender's thread (the gateway's `enqueue`): takes a request
  // message without a hop through the mailbox while connected. Returns
  // false, leaving `elem` intact, for other messages or while not connected.
  // A refused request message (and every cancel) is counted in
  // `slow_requests`; the mailbox handlers mark requests `counted` and
  // settle them once in flight or answered.
  bool try_take(caf::mailbox_element& elem) {
    auto& xs = elem.content();
    request::type kind;
    bool takeable = true;
    if (xs.match_elements<cmd_atom, command>()) {
      kind = request::type::single;
    } else if (xs.match_elements<batch_atom, std::vector<command>>()) {
      kind = request::type::batch;
      takeable = !xs.get_as<std::vector<command>>(1).empty();
    } else if (xs.match_elements<eval_atom, script, std::vector<std::string>,
                                 std::vector<std::string>>()) {
      kind = request::type::eval;
    } else if (xs.match_elements<cancel_atom>()) {
      // A barrier: requests sent after a cancel must not be canceled by it.
      std::lock_guard<std::mutex> guard{mtx};
      ++slow_requests;
      return false;
    } else {
      return false;
    }
    {
      std::unique_lock<std::mutex> guard{mtx};
      if (!takeable || !direct_ok_locked()) {
        ++slow_requests;
        return false;
      }
      request req;
      req.kind = kind;
      switch (kind) {
        case request::type::single:
          req.single = xs.move_if_unshared<command>(1);
          req.timeout = req.single.timeout;
          break;
        case request::type::batch: {
          auto& b = req.b();
          b.cmds = xs.move_if_unshared<std::vector<command>>(1);
          for (auto& c : b.cmds)
            req.timeout = std::max(req.timeout, c.timeout);
          b.replies.reserve(b.cmds.size());
          break;
        }
        case request::type::eval: {
          auto& b = req.b();
          b.scr = xs.move_if_unshared<script>(1);
          b.keys = xs.move_if_unshared<std::vector<std::string>>(2);
          b.args = xs.move_if_unshared<std::vector<std::string>>(3);
          break;
        }
      }
      req.to.self = caf::actor_cast<caf::strong_actor_ptr>(self);
      req.to.source = std::move(elem.sender);
      req.to.stages = std::move(elem.stages);
      req.to.id = elem.mid;
      put_direct(std::move(req), guard);
    }
    arm_timer_from_outside();
    return true;
  }

  // Runs on the reader thread: matches replies to requests in FIFO order
  // and answers requesters directly.
  caf::error on_replies(std::vector<resp::value>& xs) {
    // Under the lock only the bookkeeping: match replies FIFO and move the
    // finished requests out. Deliveries (allocations, enqueues, wake-ups)
    // happen after releasing it, so writers are not held up; they stay in
    // order because only this thread delivers replies.
    auto& done = finished_;
    std::vector<request_ptr> retries;
    caf::error result;
    {
      std::unique_lock<std::mutex> guard{mtx};
      for (auto& reply : xs) {
        ++replies;
        if (in_flight.empty()) {
          result = make_error(errc::protocol_error,
                              "reply without a request: " + reply.render());
          break;
        }
        auto& req = in_flight.front();
        auto finish = [&](caf::message msg) {
          done.push_back(finished{std::move(req.to), std::move(msg), {}, false});
          in_flight.pop_front();
        };
        auto finish_value = [&](resp::value&& x) {
          done.push_back(finished{std::move(req.to), {}, std::move(x), true});
          in_flight.pop_front();
        };
        auto redis_err = [&](std::string text) {
          ++errors;
          return caf::make_message(
            make_error(errc::redis_error, std::move(text)));
        };
        switch (req.kind) {
          case request::type::single:
            if (reply.is_error())
              finish(redis_err(std::move(reply.str)));
            else
              finish_value(std::move(reply));
            break;
          case request::type::batch:
            req.body->replies.emplace_back(std::move(reply));
            if (--req.owed == 0)
              finish(caf::make_message(std::move(req.body->replies)));
            break;
          case request::type::eval:
            if (reply.is_error()
                && reply.str.compare(0, 8, "NOSCRIPT") == 0) {
              // The script cache was flushed: the gateway re-sends it.
              ++script_reloads;
              retries.push_back(std::make_shared<request>(std::move(req)));
              in_flight.pop_front();
              break;
            }
            if (reply.is_error())
              finish(redis_err(std::move(reply.str)));
            else
              finish_value(std::move(reply));
            break;
        }
      }
      // Send what was held back while these requests were in flight (see
      // `enqueue_locked`), before the deliveries.
      conn.send_pending(guard, false);
    }
    for (auto& f : done) {
      if (f.has_value)
        f.to.deliver_value(std::move(f.value));
      else
        f.to.deliver(std::move(f.msg));
    }
    done.clear();
    if (!retries.empty())
      if (auto hdl = caf::actor_cast<caf::actor>(self_addr))
        for (auto& r : retries)
          // Through the gateway (direct callers have no `to.self`).
          caf::anon_send(hdl, gw_resend_atom::value, std::move(r));
    xs.clear();
    return result;
  }


  void resend(request req) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      scripts.erase(req.body->scr.sha1);
    }
    if (closing) {
      fail(req, make_error(errc::closed, "gateway is shutting down"));
    } else if (usable()) {
      send(std::move(req));
      conn.flush_later(); // rare: always flush
    } else {
      queued.emplace_front(std::move(req));
    }
  }

  void on_up() {
    if (conn.connects() > 1)
      ++stats.reconnects;
    {
      std::lock_guard<std::mutex> guard{mtx};
      scripts.clear();
      broken = false;
    }
    stats.connected = true;
    while (!queued.empty()) {
      send(std::move(queued.front()));
      queued.pop_front();
    }
    conn.flush_later();
    arm_timer();
  }

  // The connection went down (the reader thread has ended), or a connect
  // attempt failed.
  void on_down(const caf::error& reason) {
    stats.connected = false;
    auto in_flight_err = reason;
    if (code_of(reason) == errc::disconnected
        || code_of(reason) == errc::protocol_error)
      in_flight_err = make_error(errc::disconnected,
                                 "connection lost before the reply ("
                                   + render(reason) + ")");
    fail_in_flight(in_flight_err);
    // A failed connect attempt also fails what waited for it: callers get a
    // clear error now instead of a timeout later.
    auto code = code_of(reason);
    if (code == errc::connect_failed || code == errc::auth_failed) {
      for (auto& req : queued)
        fail(req, reason);
      queued.clear();
    }
  }

  void on_tick() {
    timer_armed = false;
    auto now = clock_type::now();
    caf::error expired;
    std::deque<request> dead;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (!in_flight.empty() && in_flight.front().deadline <= now) {
        auto& req = in_flight.front();
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    req.timeout)
                    .count();
        auto what = std::string{"request"};
        if (req.kind == request::type::eval)
          what = "EVALSHA";
        else if (req.kind == request::type::single
                 && !req.single.args.empty())
          what = req.single.args.front();
        else if (req.body && !req.body->cmds.empty()
                 && !req.body->cmds.front().args.empty())
          what = req.body->cmds.front().args.front();
        expired = make_error(errc::timeout, what + ": no reply within "
                                              + std::to_string(ms) + "ms");
        // Fail the whole pipeline (later replies could not be matched), and
        // write nothing more to this connection.
        dead.swap(in_flight);
        broken = true;
      }
    }
    for (auto& r : dead)
      fail(r, expired);
    if (expired)
      conn.reset(expired);
    for (auto i = queued.begin(); i != queued.end();) {
      if (i->deadline <= now) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    i->timeout)
                    .count();
        fail(*i, make_error(errc::timeout, "no connection to redis within "
                                             + std::to_string(ms) + "ms"));
        i = queued.erase(i);
      } else {
        ++i;
      }
    }
    arm_timer();
  }

  void cancel_all() {
    auto err = make_error(errc::canceled, "request canceled");
    for (auto& req : queued)
      fail(req, err);
    queued.clear();
    // Closing the socket also ends a BLOCK read on the server side.
    if (fail_in_flight(err, true))
      conn.reset(err);
  }

  void close_all() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      closing = true;
    }
    conn.shutdown(); // joins the reader thread first
    auto err = make_error(errc::closed, "gateway is shutting down");
    fail_in_flight(err);
    for (auto& req : queued)
      fail(req, err);
    queued.clear();
  }

  gateway_stats snapshot() {
    auto result = stats;
    result.sent = sent_commands;
    result.replies = replies;
    result.errors = errors;
    result.script_reloads = script_reloads;
    result.queued = queued.size();
    result.in_flight = 0;
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& req : in_flight)
      result.in_flight += req.owed;
    return result;
  }
};

/// Callers polling for their reply right now (see `wait_slot`).
std::atomic<unsigned> polling_callers{0};

/// At most this many callers poll at once; the others sleep at once, so
/// many blocking threads do not take the CPU from the reader threads and
/// Redis (measured with 8 threads on 2 cores: -16 % without this limit).
unsigned max_polling_callers() {
  static const unsigned n = std::max(1u, std::thread::hardware_concurrency()
                                           / 2);
  return n;
}

// Waits for a direct call's reply: polls for up to `spin` (yielding the
// CPU) unless enough other callers are polling, then sleeps on the slot's
// condition variable. A finite `timeout` bounds the wait on top of the
// gateway's own command timeout.
caf::message wait_slot(direct_slot& slot, caf::timespan spin,
                       caf::duration timeout) {
  if (spin.count() > 0) {
    if (polling_callers.fetch_add(1, std::memory_order_relaxed)
        < max_polling_callers()) {
      auto until = clock_type::now() + spin;
      while (!slot.ready.load(std::memory_order_acquire)
             && clock_type::now() < until)
        std::this_thread::yield();
    }
    polling_callers.fetch_sub(1, std::memory_order_relaxed);
  }
  std::unique_lock<std::mutex> guard{slot.mtx};
  if (timeout.is_zero() || !timeout.valid()) {
    slot.cv.wait(guard, [&] { return slot.done; });
  } else {
    auto d = std::chrono::nanoseconds{timeout.count};
    switch (timeout.unit) {
      case caf::time_unit::seconds: d = std::chrono::seconds{timeout.count}; break;
      case caf::time_unit::milliseconds: d = std::chrono::milliseconds{timeout.count}; break;
      case caf::time_unit::microseconds: d = std::chrono::microseconds{timeout.count}; break;
      default: break;
    }
    if (!slot.cv.wait_for(guard, d, [&] { return slot.done; }))
      return caf::make_message(
        make_error(errc::timeout, "no reply from the gateway in time"));
  }
  return std::move(slot.result);
}

template <class T>
caf::expected<T> unpack(caf::message msg) {
  if (msg.match_elements<T>())
    return std::move(msg.get_mutable_as<T>(0));
  if (msg.match_elements<caf::error>())
    return std::move(msg.get_mutable_as<caf::error>(0));
  return make_error(errc::protocol_error, "unexpected direct reply");
}

} // namespace

struct gateway_direct::impl {
  std::weak_ptr<gateway_state> state;

  // Tries to hand `req` to the gateway directly; on success waits for and
  // returns the reply. `none` means "not taken, use messages" (and `req` is
  // intact).
  caf::optional<caf::message> run(request& req, caf::duration timeout) {
    auto st = state.lock();
    if (!st)
      return caf::none;
    auto slot = std::make_shared<direct_slot>();
    req.to.slot = slot;
    if (!st->try_direct(req)) {
      req.to.slot = nullptr;
      return caf::none;
    }
    auto spin = st->opts.reply_spin;
    st.reset(); // do not keep the gateway's state alive while waiting
    return wait_slot(*slot, spin, timeout);
  }
};

namespace {

/// Hands `req` to the gateway without waiting; `fn` gets the reply.
bool run_async(const std::weak_ptr<gateway_state>& state, request& req,
               std::function<void(caf::expected<resp::value>)> fn) {
  auto st = state.lock();
  if (!st)
    return false;
  auto slot = std::make_shared<direct_slot>();
  slot->callback = [fn = std::move(fn)](caf::message msg) {
    fn(unpack<resp::value>(std::move(msg)));
  };
  req.to.slot = slot;
  if (st->try_direct(req))
    return true;
  req.to.slot = nullptr;
  return false;
}

} // namespace

bool gateway_direct::call_async(
  command& cmd, std::function<void(caf::expected<resp::value>)> fn) {
  request req;
  req.kind = request::type::single;
  req.timeout = cmd.timeout;
  req.single = std::move(cmd);
  if (run_async(impl_->state, req, std::move(fn)))
    return true;
  cmd = std::move(req.single);
  return false;
}

bool gateway_direct::eval_async(
  const script& scr, std::vector<std::string>& keys,
  std::vector<std::string>& args,
  std::function<void(caf::expected<resp::value>)> fn) {
  request req;
  req.kind = request::type::eval;
  req.b().scr = scr;
  req.b().keys = std::move(keys);
  req.b().args = std::move(args);
  if (run_async(impl_->state, req, std::move(fn)))
    return true;
  keys = std::move(req.body->keys);
  args = std::move(req.body->args);
  return false;
}

caf::optional<caf::expected<resp::value>>
gateway_direct::call(command& cmd, caf::duration timeout) {
  request req;
  req.kind = request::type::single;
  req.timeout = cmd.timeout;
  req.single = std::move(cmd);
  auto msg = impl_->run(req, timeout);
  if (!msg) {
    cmd = std::move(req.single);
    return caf::none;
  }
  return unpack<resp::value>(std::move(*msg));
}

caf::optional<caf::expected<std::vector<resp::value>>>
gateway_direct::batch(std::vector<command>& cmds, caf::duration timeout) {
  if (cmds.empty())
    return caf::expected<std::vector<resp::value>>{std::vector<resp::value>{}};
  request req;
  req.kind = request::type::batch;
  for (auto& c : cmds)
    req.timeout = std::max(req.timeout, c.timeout);
  req.b().replies.reserve(cmds.size());
  req.b().cmds = std::move(cmds);
  auto msg = impl_->run(req, timeout);
  if (!msg) {
    cmds = std::move(req.body->cmds);
    return caf::none;
  }
  return unpack<std::vector<resp::value>>(std::move(*msg));
}

caf::optional<caf::expected<resp::value>>
gateway_direct::eval(const script& scr, std::vector<std::string>& keys,
                     std::vector<std::string>& args, caf::duration timeout) {
  request req;
  req.kind = request::type::eval;
  req.b().scr = scr;
  req.b().keys = std::move(keys);
  req.b().args = std::move(args);
  auto msg = impl_->run(req, timeout);
  if (!msg) {
    keys = std::move(req.body->keys);
    args = std::move(req.body->args);
    return caf::none;
  }
  return unpack<resp::value>(std::move(*msg));
}

namespace {

/// The gateway actor. Its `enqueue` takes request messages (`cmd`, `batch`,
/// `eval`) straight from the sender's thread while the connection is up:
/// the request is encoded into the output buffer under the gateway's lock,
/// without a hop through the mailbox and the gateway's thread. Everything
/// else (and every request while disconnected or closing) goes through the
/// mailbox as usual.
/// The gateway's request type (inside the actor class, `request` names
/// the actor's own `request` member).
using pending = request;
using pending_ptr = request_ptr;

class gateway_impl : public caf::event_based_actor {
public:
  using super = caf::event_based_actor;

  gateway_impl(caf::actor_config& cfg, redis_options opts, gateway_role role)
    : super(cfg) {
    st_ = std::make_shared<gateway_state>(this, opts, role);
    // The link lives inside the state: its callbacks use a raw pointer (a
    // shared_ptr here would be a reference cycle).
    auto raw = st_.get();
    st_->conn.callbacks([](resp::value&&) {}, [raw] { raw->on_up(); },
                        [raw](const caf::error& e) { raw->on_down(e); });
    st_->conn.on_reader_thread(
      [raw](std::vector<resp::value>& xs) { return raw->on_replies(xs); });
  }

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    if (ptr != nullptr && st_->try_take(*ptr))
      return;
    super::enqueue(std::move(ptr), eu);
  }

  caf::behavior make_behavior() override {
    auto st = st_;
    set_exit_handler([this, st](const caf::exit_msg& msg) {
      st->close_all();
      quit(msg.reason);
    });
    st->conn.connect();
    auto own = caf::message_handler{
      [this, st](cmd_atom, command& cmd) {
        pending req;
        req.kind = pending::type::single;
        req.counted = true;
        req.to = reply_target::from(this);
        req.timeout = cmd.timeout;
        req.single = std::move(cmd);
        st->submit(std::move(req));
      },
      [this, st](batch_atom, std::vector<command>& cmds) {
        auto to = reply_target::from(this);
        pending req;
        req.counted = true;
        if (cmds.empty()) {
          {
            std::lock_guard<std::mutex> guard{st->mtx};
            st->settle(req);
          }
          to.deliver(caf::make_message(std::vector<resp::value>{}));
          return;
        }
        req.kind = pending::type::batch;
        req.to = std::move(to);
        for (auto& c : cmds)
          req.timeout = std::max(req.timeout, c.timeout);
        req.b().replies.reserve(cmds.size());
        req.b().cmds = std::move(cmds);
        st->submit(std::move(req));
      },
      [this, st](eval_atom, script& scr, std::vector<std::string>& keys,
                 std::vector<std::string>& args) {
        pending req;
        req.kind = pending::type::eval;
        req.counted = true;
        req.to = reply_target::from(this);
        req.b().scr = std::move(scr);
        req.b().keys = std::move(keys);
        req.b().args = std::move(args);
        st->submit(std::move(req));
      },
      [st](gw_resend_atom, pending_ptr& req) {
        if (req)
          st->resend(std::move(*req));
      },
      [st](cancel_atom) {
        st->cancel_all();
        std::lock_guard<std::mutex> guard{st->mtx};
        --st->slow_requests; // counted by `try_take`
      },
      [st](stats_atom) { return st->snapshot(); },
      [st](direct_atom) {
        auto x = std::make_shared<gateway_direct::impl>();
        x->state = st;
        return std::make_shared<gateway_direct>(std::move(x));
      },
      [st](gw_tick_atom) { st->on_tick(); },
    };
    return caf::behavior{own.or_else(st->conn.handlers())};
  }

  /// Runs on the gateway's thread whatever ended it (also `kill`, which
  /// skips the exit handler): answer everything and join the reader thread
  /// here, so no requester waits forever and the state never ends on
  /// another thread with a live connection.
  void on_exit() override {
    if (!st_->closing)
      st_->close_all();
  }

private:
  std::shared_ptr<gateway_state> st_;
};

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, const redis_options& opts,
                            gateway_role role) {
  // Detached: the gateway's own thread wakes on a condition variable, which
  // keeps connects, timeouts and flushes off the work-stealing idle
  // back-off. Requests themselves mostly skip it (see `gateway_impl`).
  auto hdl = sys.spawn<gateway_impl, caf::detached>(opts, role);
  return caf::actor_cast<gateway_actor>(hdl);
}

} // namespace pulse
