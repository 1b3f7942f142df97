#pragma once

/// Runs the real `pulse` binary (path `PULSE_CLI`, set by CMake) as a child
/// process with its stdout and stderr captured, for the CLI tests.

#include <chrono>
#include <string>
#include <vector>

#include <sys/types.h>

namespace pulse::test {

/// What a finished `pulse` run printed and returned.
struct cli_result {
  /// Exit status; -1 if it had to be killed after the timeout.
  int rc = -1;
  /// Everything written to stdout.
  std::string out;
  /// Everything written to stderr.
  std::string err;
  /// How long it ran.
  std::chrono::milliseconds elapsed{0};
};

/// A running `pulse` process (for `--follow` and `watch`).
class cli_process {
public:
  /// Starts `pulse args...` in a fresh temporary directory (so no
  /// caf-application.conf of the test's directory is read).
  explicit cli_process(const std::vector<std::string>& args);
  ~cli_process();

  cli_process(const cli_process&) = delete;
  cli_process& operator=(const cli_process&) = delete;

  /// Returns whether the process has exited (reaps it).
  bool done();

  /// Returns what it printed so far.
  std::string out() const;

  /// Waits up to `timeout` for the exit (then kills it) and returns the
  /// result.
  cli_result wait(std::chrono::milliseconds timeout);

private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
  std::string dir_;
  std::chrono::steady_clock::time_point start_;
};

/// Runs `pulse args...` to completion (killed after `timeout`).
cli_result run_cli(const std::vector<std::string>& args,
                   std::chrono::milliseconds timeout
                   = std::chrono::seconds{30});

} // namespace pulse::test
