#pragma once

/// Helpers shared by the benchmark programs: timing, medians, JSON lines,
/// baselines (raw hiredis loops, redis-benchmark) and a private Redis.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/message.hpp>

#include "pulse/runtime/config.hpp"
#include "pulse/runtime/redis_server.hpp"

namespace pulse::bench {

using clock_type = std::chrono::steady_clock;

/// Sends `go` to every load actor, waits for each one's `bool` answer
/// (true: all its requests succeeded), then exits them. Returns the seconds
/// from the first `go` to the last answer, or -1 when one answered false
/// or none answered for `stall`.
double run_loaders(caf::actor_system& sys,
                   const std::vector<caf::actor>& loaders,
                   const caf::message& go, caf::timespan stall);

/// Returns the median of `xs` (which it sorts).
double median(std::vector<double> xs);

/// Returns the q-quantile (0..1) of `xs` (which it sorts).
double quantile(std::vector<double> xs, double q);

/// Prints one JSON line: {"bench":..,"metric":..,"value":..,
/// "baseline_metric":..,"baseline":..,"ratio":..}. `higher_is_better`
/// decides the ratio direction: value/baseline, or baseline/value for
/// latencies (so a ratio >= 1 always means "at least as good").
void report(const std::string& bench, const std::string& metric, double value,
            const std::string& baseline_metric, double baseline,
            bool higher_is_better, const std::string& extra = "");

/// As `report`, with the medians of `values` and `baselines`; prints nothing
/// when either is empty (a phase that `--only` left out), rather than a
/// line whose figures were never measured.
void report_medians(const std::string& bench, const std::string& metric,
                    const std::vector<double>& values,
                    const std::string& baseline_metric,
                    const std::vector<double>& baselines,
                    bool higher_is_better, const std::string& extra = "");

/// The Redis a benchmark runs against: `--port=N` uses an existing server
/// on 127.0.0.1, otherwise a private one (persistence off) is started.
struct target {
  explicit target(int argc, char** argv);
  uint16_t port = 0;
  std::unique_ptr<redis_server> server;
  /// Number of repetitions (`--runs=N`, default 3).
  int runs = 3;
  /// Scale factor for operation counts (`--scale=F`, default 1).
  double scale = 1.0;
  /// `--only=a,b`: run only the named measurements (empty: all), to profile
  /// one shape at a time.
  std::vector<std::string> only;

  /// Whether measurement `name` runs (see `only`).
  bool wants(const std::string& name) const;

  /// `--pulse.<key>=<value>` arguments: options of the runtimes the bench
  /// starts (`runtime_options`), e.g. `--pulse.redis.reply-spin=0us`.
  std::vector<std::string> pulse_args;

  /// Runtime options for this Redis (warn-level logging), after
  /// `pulse_args`.
  pulse::options runtime_options() const;
};

/// Reads `cfg` with `config_args(argc, argv)`; exits on errors.
void read_config(pulse::config& cfg, int argc, char** argv);

/// Arguments for `pulse::config::read`: warn-level logging plus every CAF
/// scheduler option given on the command line (`--work-stealing.*`,
/// `--scheduler.*`), to measure those knobs.
std::vector<std::string> config_args(int argc, char** argv);

/// A synchronous hiredis connection for baselines (aborts on failure).
redisContext* connect_raw(uint16_t port);

/// Appends one command to a raw connection's output buffer (hiredis sends
/// it with the next `redisGetReply`).
void append_raw(redisContext* c, const std::vector<std::string>& args);

/// Runs one command on a raw connection (binary-safe arguments) and returns
/// its reply (null on a connection error; free it with `freeReplyObject`).
redisReply* command_raw(redisContext* c, const std::vector<std::string>& args);

/// Raw pipelined loop: `n` commands from `make(i)`, `depth` in flight.
/// Returns ops/s.
template <class F>
double raw_pipelined(uint16_t port, size_t n, size_t depth, F make) {
  auto c = connect_raw(port);
  auto t0 = clock_type::now();
  for (size_t done = 0; done < n;) {
    auto k = std::min(depth, n - done);
    for (size_t i = 0; i < k; ++i)
      append_raw(c, make(done + i));
    for (size_t i = 0; i < k; ++i) {
      void* r = nullptr;
      redisGetReply(c, &r);
      freeReplyObject(r);
    }
    done += k;
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  redisFree(c);
  return static_cast<double>(n) / secs;
}

/// Raw sliding-window loop: `n` commands from `make(i)` on one connection,
/// keeping `window` in flight (a new command is appended after each reply;
/// hiredis sends the appended ones whenever its reply buffer runs dry).
/// Returns ops/s.
template <class F>
double raw_window(uint16_t port, size_t n, size_t window, F make) {
  auto c = connect_raw(port);
  size_t sent = 0;
  auto append = [&] { append_raw(c, make(sent++)); };
  auto t0 = clock_type::now();
  while (sent < std::min(window, n))
    append();
  for (size_t done = 0; done < n; ++done) {
    void* r = nullptr;
    redisGetReply(c, &r);
    freeReplyObject(r);
    if (sent < n)
      append();
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  redisFree(c);
  return static_cast<double>(n) / secs;
}

/// Runs redis-benchmark with `args` (after -h/-p/--csv) and returns the
/// value of `column` (e.g. "rps", "p50_latency_ms") for row `test` (empty:
/// the first row), or a negative number if it could not be read.
double redis_benchmark(uint16_t port, const std::string& args,
                       const std::string& test, const std::string& column);

} // namespace pulse::bench
