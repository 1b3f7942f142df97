#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace pulse {

/// Exponential back-off with "equal jitter": attempt `n` (0-based) waits a
/// random duration in `[d/2, d]` where `d = min(max, min * 2^n)`.
class backoff {
public:
  /// The unit of delays.
  using duration = std::chrono::nanoseconds;

  /// Creates a back-off from `min` to `max`; `seed` seeds the jitter.
  backoff(duration min, duration max, uint64_t seed = std::random_device{}());

  /// Returns the delay before the next attempt and advances the counter.
  duration next();

  /// Restarts from the minimum delay (call after a successful connect).
  void reset() noexcept { attempt_ = 0; }

  /// Returns the number of attempts since the last reset.
  uint32_t attempts() const noexcept { return attempt_; }

private:
  duration min_;
  duration max_;
  uint32_t attempt_ = 0;
  std::mt19937_64 rng_;
};

} // namespace pulse
