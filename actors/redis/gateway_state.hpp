#pragma once

/// Internal to the gateway: its connection state machine (queue, in-flight
/// FIFO, timeouts, script cache per connection), shared by the gateway
/// actor (`gateway.cpp`), the reader thread and direct callers
/// (`gateway_direct.cpp`).

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/gateway_request.hpp"
#include "pulse/actors/redis/link.hpp"
#include "pulse/messages/options.hpp"

namespace pulse::gateway_detail {

/// State of a gateway actor, shared with its reader thread and its direct
/// callers.
struct gateway_state {
  /// Creates the state and its connection (not connected yet).
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

  /// The gateway actor.
  caf::event_based_actor* self;
  /// How to reach Redis, and the timeouts.
  redis_options opts;
  /// What the connection is for.
  gateway_role role;
  /// The connection to Redis, with its reader thread.
  detail::link conn;
  /// Guards `in_flight` and the other fields that say so (shared with the
  /// reader thread and direct callers).
  std::mutex mtx;
  /// Requests written to Redis and waiting for their replies (FIFO); the
  /// reader thread pops and answers them. Guarded by `mtx`.
  std::deque<request> in_flight;
  /// `wait-replicas`: writes whose replies arrived, held until the reply
  /// of the `WAIT` behind them (guarded by `mtx`).
  std::deque<request> awaiting;
  /// `wait-replicas`: writes encoded since the last `WAIT` (guarded by
  /// `mtx`).
  size_t unwaited_writes = 0;
  /// `wait-replicas`: a `WAIT` was sent and has not answered yet (guarded
  /// by `mtx`).
  bool wait_in_flight = false;
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
  /// Replies received (this counter and the next two are touched by the
  /// reader thread).
  std::atomic<uint64_t> replies{0};
  /// Requests answered with an error.
  std::atomic<uint64_t> errors{0};
  /// `NOSCRIPT` replies answered by re-sending the script.
  std::atomic<uint64_t> script_reloads{0};
  /// Requests sent again after Redis refused them (see
  /// `refused_before_running`).
  std::atomic<uint64_t> refused_retries{0};
  /// The counters not kept in atomics; `snapshot` fills in the rest.
  gateway_stats stats;
  /// Request latencies (guarded by `mtx`: the reader thread observes them
  /// while matching replies).
  latency_histogram latency;
  /// Whether a timeout tick is pending.
  std::atomic<bool> timer_armed{false};
  /// Commands written to Redis.
  std::atomic<uint64_t> sent_commands{0};
  /// The gateway's address, for messages sent from other threads.
  caf::actor_addr self_addr;
  /// Set by `close_all`: from then on new requests fail with `errc::closed`.
  bool closing = false;
  /// A finished request waiting for delivery (reader thread only).
  struct finished {
    /// Where the reply goes.
    reply_target to;
    /// The reply message, unless `has_value`.
    caf::message msg;
    /// The reply value, if `has_value`.
    resp::value value;
    /// Whether the reply is `value` (else `msg`).
    bool has_value;
  };
  /// Reused by `on_replies` (reader thread only).
  std::vector<finished> finished_;

  /// Period of the timeout tick: a tenth of the command timeout (1-100 ms).
  caf::timespan tick_interval() const;

  /// Arms the timeout tick while anything is queued or in flight.
  void arm_timer();

  /// Runs on a direct caller's thread: makes sure a timeout tick is armed
  /// for what it just put in flight.
  void arm_timer_from_outside();

  /// Answers `req` with `err`, counting it in `errors` (and a timeout in
  /// `stats.timeouts`).
  /// Pre: `mtx` not held when `req.counted` (counted requests are never in
  /// flight, and in-flight requests are the only ones failed under the lock).
  void fail(request& req, const caf::error& err);

  /// Mailbox path: sends `req` now, queues it while disconnected (up to
  /// `max_queued`, else `errc::overloaded`) or fails it while closing.
  void submit(request req);

  /// Resolves the request's timeout (zero: the gateway's default) and sets
  /// its deadline.
  void apply_timeout(request& req);

  /// Returns whether a request of `bytes` exceeds `max_payload`.
  bool oversized(size_t bytes) const noexcept;

  /// Requests from this size on get a longer deadline (see apply_timeout).
  static constexpr size_t large_request = 1024 * 1024;

  /// Appends the request's encoding to the output buffer and the request to
  /// `in_flight` (pre: `mtx` held; the reader finds the entry before the
  /// reply can arrive). Scripts go as EVAL the first time a connection sees
  /// them, as EVALSHA afterwards.
  ///
  /// Returns whether the caller must flush: yes while few requests are in
  /// flight (latency first). With more in flight, the bytes wait for the
  /// reader thread instead: it flushes after every chunk of replies, and a
  /// reply for the requests ahead is bound to come (or the connection drops,
  /// failing everything). Redis runs a connection's commands in order, so
  /// holding them behind that many costs little latency, and a burst of
  /// requests from many actors leaves in one send instead of one each.
  bool enqueue_locked(request req);

  /// `wait-replicas`: runs under `mtx` before each send (the link's
  /// `before_send` hook): after writes encoded since the last one, appends
  /// `WAIT <wait-replicas> <wait-timeout ms>` and its marker to
  /// `in_flight`, unless a WAIT is still in flight (the writes then wait
  /// for the next one, appended when it answered): one WAIT covers every
  /// write sent since the last.
  void append_wait_locked();

  /// Moves `awaiting` and `in_flight` (less the WAIT markers) into `dead`
  /// (pre: `mtx` held).
  void take_in_flight_locked(std::deque<request>& dead);

  /// Takes every in-flight request out (under the lock) and fails them after
  /// releasing it: a failure may run a direct caller's callback, which may
  /// call this gateway again. With `mark_broken`, a connection that had
  /// requests in flight takes no new ones until the next one is up (the
  /// caller resets it). Returns whether there were any.
  bool fail_in_flight(const caf::error& err, bool mark_broken = false);

  /// Takes a request out of `slow_requests` if it is counted there (pre:
  /// `mtx` held).
  void settle(request& req);

  /// Returns whether new requests may be written now: connected and not
  /// broken (owner thread).
  bool usable();

  /// Puts `req` in flight from the gateway's thread (owner path); returns
  /// whether to flush (see `enqueue_locked`).
  bool send(request req);

  /// Returns whether a request may skip the mailbox now (pre: `mtx` held):
  /// connected, usable, and no earlier request still waiting in the mailbox
  /// or queue.
  bool direct_ok_locked() const;

  /// Puts `req` in flight from the caller's thread (pre: `guard` holds `mtx`
  /// and `direct_ok_locked()`), sending at once when few are in flight (a
  /// hard send failure is also seen by the reader thread, which drops the
  /// connection and fails what is in flight, this request included).
  void put_direct(request req, std::unique_lock<std::mutex>& guard);

  /// Runs on a direct caller's thread. Returns false (and leaves `req`
  /// untouched) when the gateway cannot take it directly.
  bool try_direct(request& req);

  /// Runs on a sender's thread (the gateway's `enqueue`): takes a request
  /// message without a hop through the mailbox while connected. Returns
  /// false, leaving `elem` intact, for other messages or while not connected.
  /// A refused request message (and every cancel) is counted in
  /// `slow_requests`; the mailbox handlers mark requests `counted` and
  /// settle them once in flight or answered.
  bool try_take(caf::mailbox_element& elem);

  /// Runs on the reader thread: matches replies to requests in FIFO order
  /// and answers requesters directly. With `wait-replicas`, a write's reply
  /// is held until its `WAIT` reply; fewer replicas than asked make it
  /// `errc::not_replicated`.
  caf::error on_replies(std::vector<resp::value>& xs);

  /// Sends a script again as `EVAL` after `NOSCRIPT`.
  void resend(request req);

  /// Returns whether an error reply means Redis did not run the command
  /// (`LOADING`, `BUSY`, `TRYAGAIN`, `MASTERDOWN`, `READONLY`): retrying is
  /// safe. A `READONLY` reply also resets the connection (a demoted master
  /// after a failover): the retry goes to the new master.
  static bool refused_before_running(const std::string& text);

  /// Returns whether `req` may be sent again after the connection was lost
  /// with it in flight: it only reads (a single command or a batch of
  /// them, see `read_only_command`), so running it twice changes nothing
  /// and answers alike. Writes and scripts are never re-sent: the caller
  /// gets `errc::disconnected`.
  static bool retry_safe_after_loss(const request& req);

  /// Returns whether command `args` only reads (`GET`, `HGETALL`, `XRANGE`,
  /// `XREAD`, `XINFO`, `PING`, ...; the list is in `docs/operations.md`).
  static bool read_only_command(const std::vector<std::string>& args);

  /// Sends `req` again after Redis refused it (see
  /// `refused_before_running`), or fails it once its deadline passed.
  void retry_refused(request req);

  /// The connection is up: sends everything queued for it.
  void on_up();

  /// The connection went down (the reader thread has ended), or a connect
  /// attempt failed.
  void on_down(const caf::error& reason);

  /// Fails the oldest expired request in flight (and so the whole
  /// pipeline, resetting the connection) and expired queued requests.
  void on_tick();

  /// `cancel_atom`: fails everything with `errc::canceled` and resets the
  /// connection (ends a server-side BLOCK).
  void cancel_all();

  /// Joins the reader thread and fails everything with `errc::closed`.
  void close_all();

  /// The counters (`stats_atom`).
  gateway_stats snapshot();
};

/// Builds a direct entry on `state` (`gateway_direct.cpp`).
gateway_direct_ptr make_direct(std::weak_ptr<gateway_state> state);

} // namespace pulse::gateway_detail
