#pragma once

/// Propagation delay of a replicated map as this process can see it without
/// changing Go Pulse's notification format (which carries no write time):
/// for `set` writes made by this process (the only write whose reply names
/// the revision it made), the time from handing the write to the gateway to
/// this process' replica applying the notification of that revision.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>

#include "pulse/messages/histogram.hpp"

namespace pulse {

/// Matches this process' own `set` writes with the replica applying their
/// notifications, and keeps the delays in a histogram. Thread-safe: the
/// writers (the `rmap::map` facade, the replica actor's `map_write`) call
/// `sent`/`answered`, the replica's apply paths (actor or pub/sub reader
/// thread) call `applied`. No Redis commands; no errors.
///
/// What one observation is: from `sent` (just before the script request is
/// handed to the gateway) to the replica applying revision `rev` (under its
/// store's lock), i.e. request queueing, the round trip to Redis, the
/// script, `PUBLISH`, the pub/sub connection and the apply. A revision that
/// reaches the replica only through a snapshot (resync), or whose apply is
/// older than the last `ring_size` applies when the reply comes, or that is
/// still unapplied when `max_waiting` later writes wait, is counted as
/// `unmatched` instead (never guessed).
class propagation_probe {
public:
  /// The clock of every time point given to or kept by the probe.
  using clock = std::chrono::steady_clock;

  /// Applies remembered with their time (a reply may come after its
  /// notification was applied).
  static constexpr size_t ring_size = 256;

  /// Writes remembered while their notification has not come yet.
  static constexpr size_t max_waiting = 1024;

  /// Returns the time a write is sent, and turns the probe on (before the
  /// first write, applies are not timed at all).
  clock::time_point sent();

  /// The write sent at `at` made revision `rev` (its reply said so):
  /// observes its delay if the replica applied `rev` already, else waits
  /// for `applied(rev)`.
  void answered(uint64_t rev, clock::time_point at);

  /// The replica applied revision `rev` from a notification. Called with
  /// the replica's store lock held; cheap when no write was ever sent.
  void applied(uint64_t rev);

  /// The delays observed so far.
  latency_histogram delays() const;

  /// Own writes whose delay could not be measured (see the class).
  uint64_t unmatched() const;

private:
  struct stamp {
    uint64_t rev = 0;
    clock::time_point at;
  };

  mutable std::mutex mtx_;
  std::atomic<bool> active_{false};
  uint64_t last_ = 0;
  std::array<stamp, ring_size> ring_{};
  std::map<uint64_t, clock::time_point> waiting_;
  latency_histogram delays_;
  uint64_t unmatched_ = 0;
};

} // namespace pulse
