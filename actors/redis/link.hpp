#pragma once

/// Internal: the connection lifecycle shared by the gateway and pub/sub
/// actors. Not part of the public API.

#include <cstdint>
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_handler.hpp>

#include "pulse/messages/redis.hpp"
#include "pulse/actors/redis/backoff.hpp"
#include "pulse/messages/options.hpp"
#include "pulse/actors/redis/resp.hpp"
#include "pulse/actors/redis/wire.hpp"

#include <memory>

namespace pulse::detail {

class sentinel_watch;
class reader_crew;


/// One Redis connection owned by a (scheduled) actor.
///
/// - Connecting runs on a detached helper actor (`connect_redis` blocks).
/// - Writes: the owner appends commands with `write`; `flush_later` sends
///   them with one non-blocking `send` once the owner's mailbox is drained,
///   so a burst of requests costs one syscall. A full socket buffer is
///   retried every millisecond, never blocking the worker thread.
/// - Reads: a reader thread per connection waits on the socket, decodes
///   replies and hands them to the owner in chunks (`link_data`), or to
///   the reader function, which may wake actors that then run on the
///   reader thread (`reader_crew`).
/// - Plain or TLS (`opts.tls`): the `wire` serializes the TLS session's
///   reads (reader thread) and writes (any sender) with its own lock.
/// - Reconnects use exponential back-off with jitter.
/// - With Sentinel (`opts.sentinels`), every connect finds the master
///   through the sentinels (`connect_redis`), and a `sentinel_watch` drops
///   the connection when they announce a failover (`+switch-master`).
/// - In cluster mode (`opts.cluster`: the pub/sub connection), every
///   connect tries the nodes the last one learned from `CLUSTER SLOTS`
///   (masters, then replicas), then the seeds, and the node whose
///   connection was lost last (`connect_redis`), so the connection moves
///   to a live node when its node fails.
class link {
public:
  using reply_fn = std::function<void(resp::value&&)>;
  using up_fn = std::function<void()>;
  using down_fn = std::function<void(const caf::error&)>;
  /// Runs on the reader thread for each chunk of decoded replies; returns
  /// an error to drop the connection (e.g. a reply nobody asked for).
  /// Replies left in the vector are sent to the owner (`link_data`).
  using reader_fn = std::function<caf::error(std::vector<resp::value>&)>;

  link(caf::event_based_actor* self, redis_options opts, std::string role);
  ~link();

  link(const link&) = delete;
  link& operator=(const link&) = delete;

  /// Installs the callbacks: a decoded reply, the connection came up, the
  /// connection went down (or a connect attempt failed) with a reason.
  void callbacks(reply_fn on_reply, up_fn on_up, down_fn on_down);

  /// Makes the reader thread hand replies to `f` (on the reader thread)
  /// instead of sending them to the owner. `f` must be thread-safe with
  /// respect to the owner. Set it before the first `connect`.
  void on_reader_thread(reader_fn f) { reader_fn_ = std::move(f); }

  /// Starts connecting unless connected or already connecting.
  void connect();

  /// Closes the connection on purpose (e.g. after a timeout) and reconnects
  /// at once. Calls `on_down(reason)`.
  void reset(const caf::error& reason);

  /// Closes the connection for good (owner shutting down).
  void shutdown();

  /// Appends `args` to the output buffer. Pre: `connected()`; with a guard
  /// mutex (see `guard_with`), the caller holds it.
  void write(const std::vector<std::string>& args);

  /// The output buffer, for encoding commands straight into it (same
  /// preconditions as `write`).
  std::vector<char>& output() noexcept { return out_; }

  /// Sends the output buffer once the mailbox is drained.
  void flush_later();

  /// Sends the output buffer now, from any thread. `lk` holds the guard
  /// mutex (or nothing when none is set); the syscalls run with it released
  /// and one sender at a time (bytes appended meanwhile are sent by the
  /// active sender, in order). A full socket buffer asks the owner to
  /// retry. Returns a hard send error (the reader thread also notices the
  /// broken connection).
  caf::error send_pending(std::unique_lock<std::mutex>& lk, bool from_owner);

  /// Returns the guard mutex locked (an empty lock when none is set).
  std::unique_lock<std::mutex> lock_guard_mutex();

  /// Makes the connection's output buffer and state (connected, socket)
  /// guarded by `m`, so threads other than the owner may write (holding
  /// `m`). Transitions take `m` themselves and release it before joining
  /// the reader thread. Set before the first `connect`.
  void guard_with(std::mutex* m) { guard_ = m; }

  /// Installs `f`, run before each send of the output buffer with the guard
  /// mutex held; it may append to `output()` (the gateway's `WAIT` after
  /// writes). Set before the first `connect`.
  void before_send(std::function<void()> f) { before_send_ = std::move(f); }

  /// Lets blocking callers read their own replies on this connection
  /// (plain sockets; see `reader_crew::lead`). Set before the first
  /// `connect`.
  void leadable(bool on) noexcept { leadable_ = on; }

  /// Any thread: the reader threads of the current connection when it is
  /// leadable, else null.
  std::shared_ptr<reader_crew> lead_crew() const {
    return std::atomic_load(&lead_crew_);
  }

  /// Pre: the guard mutex is held (or none is set).
  bool connected() const noexcept { return connected_; }
  int64_t client_id() const noexcept { return client_id_; }
  uint64_t connects() const noexcept { return connects_; }
  const redis_options& opts() const noexcept { return opts_; }
  /// Where the current (or last) connection goes: with Sentinel, the
  /// master found; in cluster mode, the node that answered; else
  /// `opts().endpoint()`.
  const std::string& endpoint() const noexcept { return endpoint_; }

  /// Message handlers for the link's own messages; add them to the owner's
  /// behavior with `.or_else(link.handlers())`.
  caf::message_handler handlers();

private:

  void close_socket_and_join();
  void drop(const caf::error& reason, bool retry_now);
  void schedule_retry(bool now);

  caf::event_based_actor* self_;
  redis_options opts_;
  std::string role_;
  reply_fn on_reply_;
  up_fn on_up_;
  down_fn on_down_;
  reader_fn reader_fn_;
  std::function<void()> before_send_;
  backoff backoff_;
  std::mutex* guard_ = nullptr;
  /// A thread is sending (outside the lock); see `send_pending`.
  bool sending_ = false;
  caf::actor_addr owner_;
  /// The connection while connected (also held by the reader thread).
  wire_ptr conn_;
  /// The reader threads of the current connection.
  std::shared_ptr<reader_crew> crew_;
  /// See `leadable`.
  bool leadable_ = false;
  /// `crew_` while connected and leadable (read by any thread, with
  /// `std::atomic_load`).
  std::shared_ptr<reader_crew> lead_crew_;
  /// With Sentinel: watches `+switch-master` while connected.
  std::unique_ptr<sentinel_watch> watch_;
  /// See `endpoint()`.
  std::string endpoint_;
  /// In cluster mode: the nodes the last connect learned (`CLUSTER
  /// SLOTS`), tried before the seeds by the next connect.
  std::vector<std::string> cluster_nodes_;
  /// With Sentinel: the new master a `+switch-master` named, written by the
  /// watch thread, tried first by the next connect.
  struct hint_box {
    std::mutex mtx;
    std::string addr;
  };
  std::shared_ptr<hint_box> hint_ = std::make_shared<hint_box>();
  std::vector<char> out_;
  size_t out_pos_ = 0;
  /// The buffer the last send emptied, kept for its capacity (only the
  /// active sender touches it).
  std::vector<char> spare_;
  bool connected_ = false;
  bool connecting_ = false;
  bool stopped_ = false;
  /// A back-off delay is running: requests do not connect early.
  bool retry_pending_ = false;
  /// When the last connect failure was logged as a warning; later failures
  /// are debug records until `fail_warn_period` passed.
  std::chrono::steady_clock::time_point last_fail_warn_{};
  /// Failures since the last warning.
  uint64_t failures_unlogged_ = 0;
  std::atomic<bool> flush_scheduled_{false};
  uint64_t epoch_ = 0;
  uint64_t connects_ = 0;
  int64_t client_id_ = 0;
};

} // namespace pulse::detail
