#pragma once

/// Helpers of the metrics tests: HTTP GET/POST through
/// cpp-httplib, external processes (promtool, prometheus, chromium) with
/// their output captured, and the few JSON fields the tests read.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace pulse::test {

/// The reply of an HTTP request: status (0 = no connection), body and
/// `Content-Type`.
struct http_reply {
  int status = 0;
  std::string body;
  std::string content_type;
};

/// `GET http://127.0.0.1:<port><path>` with a `timeout` for connect and
/// read.
http_reply http_get(uint16_t port, const std::string& path,
                    std::chrono::seconds timeout = std::chrono::seconds{10});

/// `POST` of an empty body.
http_reply http_post(uint16_t port, const std::string& path,
                     std::chrono::seconds timeout = std::chrono::seconds{10});

/// Returns `x` percent-encoded for a URL query parameter.
std::string url_encode(const std::string& x);

/// Returns the path of `name` on `PATH`, or "" if there is none.
std::string find_program(const std::string& name);

/// Runs `argv` to completion (killed after `timeout`) with `input` on stdin;
/// returns its exit code (-1 if it could not run or timed out) and its
/// stdout and stderr together in `output`.
int run_program(const std::vector<std::string>& argv, const std::string& input,
                std::string& output,
                std::chrono::seconds timeout = std::chrono::seconds{60});

/// A background process (stdout and stderr to `log_file`), killed
/// (SIGTERM, then SIGKILL after 5 s) and reaped on destruction.
class child_process {
public:
  child_process(const std::vector<std::string>& argv,
                const std::string& log_file);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The process ID (-1 if it could not start).
  pid_t pid() const { return pid_; }

  /// Whether it is still running.
  bool running();

  /// Waits up to `timeout` for it to exit; returns whether it did.
  bool wait_exit(std::chrono::milliseconds timeout);

private:
  pid_t pid_ = -1;
};

/// Reads the single sample value of a Prometheus query API reply
/// (`{"status":"success","data":{"resultType":"vector","result":[{...,
/// "value":[t,"v"]}]}}`); none for an empty result or another shape.
std::optional<std::string> single_value(const std::string& json);

/// Returns the value of the sample line of `series` (exactly as written,
/// e.g. `pulse_x_total{a="b"}`) in a Prometheus text exposition, if any.
std::optional<std::string> sample_value(const std::string& exposition,
                                        const std::string& series);

} // namespace pulse::test
