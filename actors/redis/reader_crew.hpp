#pragma once

/// Internal: the reader threads of one connection. Not part of the public
/// API.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/error.hpp>
#include <caf/resumable.hpp>

#include "pulse/actors/redis/link.hpp"
#include "pulse/actors/redis/resp.hpp"
#include "pulse/actors/redis/wire.hpp"

namespace pulse::detail {

/// Reads one connection: waits on the socket, decodes replies and hands
/// each chunk to the owner's reader function (or to the owner as
/// `link_data`), then sends `link_down` when the connection ends.
///
/// Replies that wake scheduled actors (requesters of the gateway,
/// subscribers of the pub/sub actor) run those actors here, on the reader
/// thread (`inline_unit`), saving a cross-thread wake-up per reply; so do
/// the actors those runs wake, up to `max_chained_runs`. So that
/// a slow or blocking handler cannot hold up the connection (one that calls
/// the same gateway and waits would otherwise wait for itself):
/// - the thread gives up the *read role* while it runs actors;
/// - when its runs for one chunk take longer than `stall_bound`, a watch
///   thread (one per process) hands the chunk's actors not yet run to the
///   scheduler and starts a new thread that takes the read role;
/// - the old thread ends when its current run returns.
/// One connection thus has one reader thread, and a second one only for
/// as long as a handler outlasts the bound.
class reader_crew : public std::enable_shared_from_this<reader_crew> {
public:
  using clock_type = std::chrono::steady_clock;

  /// How long a thread may run woken actors for one chunk before another
  /// thread takes over reading.
  static constexpr auto stall_bound = std::chrono::milliseconds{2};

  /// How many actor runs one chunk's replies may lead to on the reader
  /// thread: the actors the replies wake, then the actors those runs wake
  /// (a chain such as sink -> subscriber); the rest go to the scheduler.
  static constexpr size_t max_chained_runs = 32;

  /// With `leadable` (plain sockets only), the reader thread waits for
  /// bytes in `poll` before it reads, so that a blocking caller may read
  /// its own reply meanwhile (`lead`).
  reader_crew(wire_ptr conn, uint64_t epoch, const caf::actor& owner,
              std::string endpoint, link::reader_fn handler, bool leadable);

  /// Starts the first reader thread. When no thread can start, sends the
  /// owner `link_down` (`errc::disconnected`), as a lost connection would.
  void start();

  /// How long `stop` waits for handlers that run on a reader thread.
  static constexpr auto stop_wait = std::chrono::seconds{5};

  /// Waits until no thread reads or hands replies over, then up to
  /// `stop_wait` until no woken actor runs on a reader thread (so none runs
  /// after the owner and its actor system are gone; a handler that waits
  /// for the closing owner gets its error or times out meanwhile). Actors
  /// woken but not run yet go to the scheduler. Called from a run on this
  /// crew's own thread, it does not wait for that run. Pre: the connection
  /// was shut (`wire::shut`), so a thread waiting on the socket returns.
  void stop();

  /// Called by the watch: when the current runs started more than
  /// `stall_bound` before `now`, hands the actors not yet run to the
  /// scheduler and starts a thread that reads. Returns whether actors run.
  bool check(clock_type::time_point now);

  /// How often a new thread took over reading (for tests and statistics).
  static uint64_t takeovers() noexcept;

  /// The longest a caller leads (`lead`) before it waits on its own.
  static constexpr auto lead_bound = std::chrono::milliseconds{50};

  /// The reader thread waits in `poll` (so that callers can lead) while a
  /// caller tried to lead within this window; otherwise it waits in a
  /// blocking `recv`, which costs fewer syscalls per wake-up.
  static constexpr auto lead_window = std::chrono::milliseconds{10};

  /// A blocking caller whose request was just sent: when the reader thread
  /// waits for bytes, takes the read role and reads the connection until
  /// `done` holds or `until` (at most `lead_bound` from now), handing every
  /// reply over as the reader thread would (woken actors go to the
  /// scheduler), then gives the role back. For the first `spin` it polls
  /// the socket without sleeping (yielding the CPU), then sleeps in `poll`.
  /// Saves the wake-up of a second thread between the reply and the
  /// caller. Returns whether it led; the caller then waits for its reply
  /// as usual (it is there unless the time ran out or the connection
  /// ended).
  bool lead(const std::atomic<bool>& done, std::chrono::nanoseconds spin,
            clock_type::time_point until);

  /// How often a caller led (for tests and statistics).
  static uint64_t leads() noexcept;

private:
  /// A thread's life: reads while it holds the read role of generation
  /// `gen` (each takeover starts a new one).
  void read_role(uint64_t gen);

  /// One read from the socket and its hand-over; returns false when the
  /// connection ended (reason in `reason_`).
  bool read_once(class inline_unit* unit);

  /// With `leadable_`: waits for bytes without the role, then reads them
  /// unless a leading caller did (waits for it to finish first).
  io_result wait_and_read();

  /// Hands over the bytes of one read; a closed connection or a read error
  /// becomes `reason_` (returns false), as does a protocol error.
  bool take_read(io_result got, class inline_unit* unit);

  /// Decodes `n` bytes of `buf_` and hands the replies over (collecting
  /// woken actors in `unit` unless null); returns false when the
  /// connection must end (reason in `reason_`).
  bool hand_over(size_t n, class inline_unit* unit);

  wire_ptr conn_;
  uint64_t epoch_;
  /// The owner (weak: a thread that outlives it must not keep it).
  caf::actor_addr owner_;
  caf::actor_system* sys_;
  std::string endpoint_;
  link::reader_fn handler_;
  /// The decoder state, used only by the thread holding the read role.
  resp::decoder dec_;
  std::vector<char> buf_;
  std::vector<resp::value> replies_;
  caf::error reason_;

  std::mutex mtx_;
  std::condition_variable cv_;
  /// A thread holds the read role (reads, decodes or hands over replies).
  bool reading_ = false;
  /// `stop` was called: no thread takes the read role again.
  bool stopped_ = false;
  /// Threads running woken actors.
  int running_ = 0;
  /// A takeover found no thread to spare (warned once per connection).
  bool spawn_failed_ = false;
  /// Woken actors of the current chunk not yet run.
  std::deque<caf::resumable*> pending_;
  /// See the constructor.
  const bool leadable_;
  /// The reader thread holds the read role but waits for bytes in `poll`:
  /// a caller may lead.
  bool polling_ = false;
  /// A caller leads (reads for the reader thread).
  bool led_ = false;
  /// When a caller last tried to lead (`clock_type` ticks).
  std::atomic<clock_type::rep> last_lead_try_{0};
  /// The reader thread woke while a caller led and waits for it.
  bool reader_waits_ = false;
  /// The generation of the read role: the thread that took it last.
  uint64_t gen_ = 0;
  /// When the current runs started (zero: no runs).
  clock_type::time_point runs_since_{};
};

} // namespace pulse::detail
