#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>

namespace pulse {

/// How to reach Redis (section `[pulse.redis]` of `caf-application.conf`).
struct redis_options {
  /// Host name or address. Empty means "not configured": the runtime then
  /// starts an embedded redis-server.
  std::string host;
  /// TCP port.
  uint16_t port = 6379;
  /// ACL user for `AUTH <username> <password>`; empty means `AUTH <password>`.
  std::string username;
  /// Password; empty means no AUTH.
  std::string password;
  /// Database index for `SELECT` (0 sends no SELECT).
  int64_t db = 0;
  /// Maximum time to connect and complete AUTH/SELECT.
  caf::timespan connect_timeout = std::chrono::seconds{2};
  /// Maximum time a request may wait for its reply (queued time included).
  caf::timespan command_timeout = std::chrono::seconds{5};
  /// Start a private redis-server even when a host is configured.
  bool embedded = false;
  /// First reconnect delay; doubles per failed attempt (with jitter).
  caf::timespan reconnect_min = std::chrono::milliseconds{100};
  /// Cap of the reconnect delay.
  caf::timespan reconnect_max = std::chrono::seconds{5};
  /// Requests queued while disconnected before new ones fail with
  /// `errc::overloaded`.
  uint64_t max_queued = 100000;
  /// Binary used for the embedded server.
  std::string server_binary = "redis-server";
  /// How long a blocking caller (`pulse::client`, the direct entry) polls
  /// for its reply (yielding the CPU) before sleeping on a condition
  /// variable; 0 sleeps at once. Waking a sleeping thread costs tens of µs
  /// on virtual machines, more than a loopback round trip. At most
  /// max(1, cores / 2) callers poll at once; the others sleep at once.
  caf::timespan reply_spin = std::chrono::microseconds{30};

  /// Returns whether the runtime must start an embedded server.
  bool use_embedded() const noexcept { return embedded || host.empty(); }
};

/// Defaults of readers and sinks (section `[pulse.streaming]`); see
/// `reader_options::from` and `sink_options::from`.
struct streaming_defaults {
  /// XREAD/XREADGROUP BLOCK duration.
  caf::timespan block_duration = std::chrono::seconds{5};
  /// COUNT of each read.
  uint64_t max_polled = 1000;
  /// Maximum events per batch sent to subscribers.
  uint64_t buffer_size = 1000;
  /// Sink ack grace period.
  caf::timespan ack_grace_period = std::chrono::seconds{20};
  /// Deliveries before a sink dead-letters an event (0: never).
  uint64_t max_deliveries = 10;
  /// Sink idle-check (reclaim, stale consumers) period.
  caf::timespan idle_check = std::chrono::milliseconds{500};
  /// Default approximate MAXLEN of streams (0: unbounded).
  uint64_t stream_max_len = 1000;
};

/// Every option of the Pulse runtime.
/// Defaults of pool nodes (`[pulse.pool]`); each field is documented on the
/// `pool_options` member of the same name (`runtime/pool_core.hpp`).
struct pool_defaults {
  /// `pulse.pool.worker-ttl`.
  caf::timespan worker_ttl = std::chrono::seconds{30};
  /// `pulse.pool.worker-shutdown-ttl`.
  caf::timespan worker_shutdown_ttl = std::chrono::minutes{2};
  /// `pulse.pool.ack-grace-period`.
  caf::timespan ack_grace_period = std::chrono::seconds{20};
  /// `pulse.pool.job-sink-block-duration`.
  caf::timespan job_sink_block_duration = std::chrono::seconds{5};
  /// `pulse.pool.requeue-delay`.
  caf::timespan requeue_delay = std::chrono::seconds{1};
  /// `pulse.pool.max-queued-jobs` (0: no limit).
  uint64_t max_queued_jobs = 1000;
  /// `pulse.pool.max-batch`.
  uint64_t max_batch = 256;
};

struct options {
  redis_options redis;
  streaming_defaults streaming;
  /// `[pulse.pool]`: defaults of pool nodes.
  pool_defaults pool;
  /// spdlog level name (`pulse.log.level`).
  std::string log_level = "info";
};

/// One known option: its dotted key and the type its value must have.
struct option_spec {
  enum class type { string, integer, port, boolean, timespan };
  const char* key;
  type expected;
  const char* description;
};

/// Returns the table of every `pulse.*` option the runtime knows.
const std::vector<option_spec>& known_options();

/// Checks every `pulse.*` entry of `xs` (parsed settings): unknown keys and
/// values of the wrong type give `errc::invalid_config` naming the key.
caf::error validate_settings(const caf::settings& xs);

/// Reads `options` from parsed settings (defaults for absent keys) and checks
/// ranges (port 1-65535, db >= 0, positive timeouts, known log level).
caf::expected<options> options_from(const caf::settings& xs);

/// Actor system configuration for Pulse nodes.
///
/// - Reads `caf-application.conf` (not CAF 0.17's default `.ini`), or the
///   file named by `--config-file=<path>` (a missing explicit file is an
///   error; a missing default file is not).
/// - Declares every `pulse.*` option so `--pulse.redis.port=7000` works on
///   the command line (CLI > file > defaults).
/// - Sets `scheduler.max-threads` to the number of cores (CAF's default is
///   max(cores, 4)) unless configured.
class config : public caf::actor_system_config {
public:
  config();

  /// Parses the command line and the config file, validates all `pulse.*`
  /// options and fills `opts()`. Returns `errc::invalid_config` with a
  /// message naming the offending key or file.
  caf::error read(int argc, char** argv);

  /// Like `read`, from a list of arguments (argv without the program name).
  caf::error read(std::vector<std::string> args);

  /// Returns whether `--help`/`--long-help`/`--dump-config` was handled
  /// (the program should exit).
  bool help_printed() const noexcept { return cli_helptext_printed; }

  /// Returns the options read by `read` (defaults before).
  const pulse::options& opts() const noexcept { return opts_; }

  /// Replaces the options (for programs that configure in code).
  void opts(pulse::options x) { opts_ = std::move(x); }

private:
  pulse::options opts_;
};

} // namespace pulse
