#pragma once

/// A latency histogram with fixed bucket bounds, as carried in the stats
/// messages of gateways and pool nodes and exposed by the metrics endpoint
/// (`runtime/metrics.hpp`) as a Prometheus histogram.

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/timespan.hpp>

namespace pulse {

/// Observations of a duration, counted per bucket (not cumulative; the
/// exposition makes them cumulative). Not thread-safe: owners guard it.
struct latency_histogram {
  /// The upper bounds (seconds, inclusive) of the buckets, the same for
  /// every histogram of the process and for its whole lifetime: 100 µs to
  /// 10 s. Observations above the last bound count only in the `+Inf`
  /// bucket (the last entry of `counts`).
  static constexpr std::array<double, 15> bounds{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};

  /// Observations per bucket; `bounds.size() + 1` entries once anything
  /// was observed (the last is above every bound), empty before.
  std::vector<uint64_t> counts;
  /// The sum of every observation in seconds.
  double sum = 0;
  /// The number of observations.
  uint64_t count = 0;

  /// Counts one observation of `seconds`.
  void observe(double seconds) {
    if (counts.empty())
      counts.resize(bounds.size() + 1);
    size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i])
      ++i;
    ++counts[i];
    sum += seconds;
    ++count;
  }

  /// Counts one observation of `d`.
  void observe(caf::timespan d) {
    observe(std::chrono::duration<double>(d).count());
  }

  /// Adds the observations of `other` (e.g. of several gateways).
  void merge(const latency_histogram& other) {
    if (other.counts.empty())
      return;
    if (counts.empty())
      counts.resize(bounds.size() + 1);
    for (size_t i = 0; i < counts.size() && i < other.counts.size(); ++i)
      counts[i] += other.counts[i];
    sum += other.sum;
    count += other.count;
  }
};

/// Makes `latency_histogram` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, latency_histogram& x) {
  return f(caf::meta::type_name("latency_histogram"), x.counts, x.sum,
           x.count);
}

} // namespace pulse
