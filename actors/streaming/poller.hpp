#pragma once

/// Internal: the read loop's mechanics that readers and sinks share.

#include <chrono>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/timespan.hpp>

#include "pulse/actors/redis/backoff.hpp"
#include "pulse/messages/redis.hpp"

namespace pulse::detail {

/// One blocking read at a time (`XREAD` / `XREADGROUP ... BLOCK`) on the
/// owner's own gateway, with a reply timeout above the BLOCK duration; a
/// restart that cancels the read in flight (its error then comes back as
/// `errc::canceled`); and retries after failures with exponential back-off
/// (100 ms to 5 s), as a `Tick` message to the owner, which calls
/// `retry_due` and reads again.
template <class Tick>
class stream_poller {
public:
  stream_poller(caf::event_based_actor* self, gateway_actor blocking,
                caf::timespan command_timeout)
    : self_(self),
      blocking_(std::move(blocking)),
      command_timeout_(command_timeout),
      retry_(std::chrono::milliseconds{100}, std::chrono::seconds{5}) {
    // nop
  }

  /// Whether a read is in flight or a retry is pending (no new read now).
  bool busy() const noexcept {
    return in_flight_ || retry_scheduled_;
  }

  /// Whether a read is in flight.
  bool in_flight() const noexcept {
    return in_flight_;
  }

  /// Appends `COUNT <count> BLOCK <ms>` to a read command's arguments.
  static void count_and_block(std::vector<std::string>& args, uint64_t count,
                              caf::timespan block) {
    args.emplace_back("COUNT");
    args.emplace_back(std::to_string(count));
    args.emplace_back("BLOCK");
    args.emplace_back(std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(block).count()));
  }

  /// Sends the read `cmd` (blocking up to `block`); `on_read(reply)` or
  /// `on_error(err)` runs when it returns. A reply resets the back-off.
  template <class OnRead, class OnError>
  void read(command cmd, caf::timespan block, OnRead on_read,
            OnError on_error) {
    cmd.timeout = block + command_timeout_;
    in_flight_ = true;
    self_->request(blocking_, caf::infinite, cmd_atom::value, std::move(cmd))
      .then(
        [this, on_read](resp::value& v) mutable {
          in_flight_ = false;
          retry_.reset();
          on_read(v);
        },
        [this, on_error](caf::error& err) mutable {
          in_flight_ = false;
          on_error(err);
        });
  }

  /// Re-issues the read with the owner's new parameters: cancels the read
  /// in flight, or calls `poll` at once.
  template <class Poll>
  void restart(Poll poll) {
    if (in_flight_)
      self_->send(blocking_, cancel_atom::value);
    else
      poll();
  }

  /// Schedules one `Tick` after the next back-off delay (once).
  void retry_later() {
    if (retry_scheduled_)
      return;
    retry_scheduled_ = true;
    self_->delayed_send(self_, retry_.next(), Tick::value);
  }

  /// The `Tick` arrived: reads may go on.
  void retry_due() noexcept {
    retry_scheduled_ = false;
  }

private:
  caf::event_based_actor* self_;
  gateway_actor blocking_;
  caf::timespan command_timeout_;
  backoff retry_;
  bool in_flight_ = false;
  bool retry_scheduled_ = false;
};

} // namespace pulse::detail
