#pragma once

/// Option structs of the Pulse runtime: what `runtime/config.hpp` reads
/// from `caf-application.conf` and the command line, and what spawn
/// functions and spawn messages carry.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/timespan.hpp>

namespace pulse {

/// How to reach Redis (section `[pulse.redis]` of `caf-application.conf`).
struct redis_options {
  /// A URL naming the server, which overrides the fields it sets:
  /// `redis://[[user]:password@]host[:port][/db]` (port 6379 when absent;
  /// host, port and the socket path always come from the URL; db, user and
  /// password only when the URL has them), `rediss://...` (the same with
  /// `tls` turned on), `unix:///path/redis.sock[?db=N]` or
  /// `unix:/path/redis.sock[?db=N]`. User and password are percent-decoded.
  /// `options_from` and `runtime::start` apply it (`apply_redis_url`) and
  /// clear it.
  std::string url;
  /// Host name or address. Empty (and no `unix_socket` or `url`) means "not
  /// configured": the runtime then starts an embedded redis-server.
  std::string host;
  /// TCP port.
  uint16_t port = 6379;
  /// Path of a Unix domain socket; when set, every connection goes through
  /// it and `host`/`port` are ignored.
  std::string unix_socket;
  /// ACL user for `AUTH <username> <password>`; empty means `AUTH <password>`.
  std::string username;
  /// Password; empty means no AUTH. The environment variable
  /// `PULSE_REDIS_PASSWORD` overrides it (see `pulse::read_config`).
  std::string password;
  /// A file holding the password (one trailing newline is ignored), read at
  /// start-up; an alternative to `password`, which must then be empty.
  std::string password_file;
  /// Database index for `SELECT` (0 sends no SELECT).
  int64_t db = 0;
  /// TLS on every TCP connection (gateways, blocking gateways, pub/sub);
  /// a `rediss://` URL turns it on. Not for Unix sockets.
  bool tls = false;
  /// PEM file of the CA certificates that verify the server; empty: the
  /// system's default CA store.
  std::string tls_ca_file;
  /// PEM certificate (chain) the client presents, for servers that verify
  /// clients (Redis `tls-auth-clients yes`); needs `tls_key_file`.
  std::string tls_cert_file;
  /// PEM private key of `tls_cert_file`.
  std::string tls_key_file;
  /// Name the server certificate must match and, when it is a DNS name, the
  /// SNI sent; empty: `host`.
  std::string tls_server_name;
  /// Verify the server certificate (chain and host name). Turning it off
  /// accepts any certificate: for tests only.
  bool tls_verify = true;
  /// Maximum time to connect and complete AUTH/SELECT.
  caf::timespan connect_timeout = std::chrono::seconds{2};
  /// TCP keepalive of every TCP connection: SO_KEEPALIVE with this idle time
  /// before the first probe, probes every third of it (at least 1 s) and 3
  /// unanswered probes dropping the connection (as Redis' own
  /// `tcp-keepalive`). Whole seconds, rounded up; 0 turns keepalive off.
  caf::timespan tcp_keepalive = std::chrono::seconds{60};
  /// How long `runtime::start` keeps retrying a refused or unreachable
  /// first connect (Redis not up yet) before failing with
  /// `errc::connect_failed`; 0 fails at the first refused attempt.
  caf::timespan connect_wait = caf::timespan{0};
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
  /// Largest request (the sum of its arguments' bytes: keys, payloads,
  /// script arguments) the gateway sends; larger ones fail at once with
  /// `errc::too_large`. 0: no limit (Redis' own is 512 MiB per argument).
  /// Request timeouts grow with size: `command_timeout` plus 1 s per
  /// `16 MiB`, so an accepted payload does not time out on a healthy Redis.
  uint64_t max_payload = 32 * 1024 * 1024;
  /// Binary used for the embedded server.
  std::string server_binary = "redis-server";
  /// How long a blocking caller (`pulse::client`, the direct entry) polls
  /// for its reply (yielding the CPU) before sleeping on a condition
  /// variable; 0 sleeps at once. Waking a sleeping thread costs tens of µs
  /// on virtual machines, more than a loopback round trip. At most
  /// max(1, cores / 2) callers poll at once; the others sleep at once.
  caf::timespan reply_spin = std::chrono::microseconds{30};
  /// Whether a blocking caller reads its own reply from the socket while
  /// the connection's reader thread waits for bytes (only one caller at a
  /// time; plain TCP and Unix sockets, not TLS). Saves the wake-up of the
  /// reader thread between the reply and the caller. While callers tried
  /// in the last 10 ms, the reader thread waits for an empty socket in
  /// `poll` (then reads) instead of a blocking `recv`.
  bool reply_lead = true;
  /// Redis Sentinel: `host:port` of each sentinel (`[v6addr]:port` for
  /// IPv6). When set, `host`/`port`/`unix_socket` are unused: every
  /// connection asks the sentinels in turn for the master of `master_name`
  /// (`SENTINEL GET-MASTER-ADDR-BY-NAME`), checks its `ROLE`, and follows
  /// failovers (`+switch-master`). TLS settings, when on, apply to the
  /// sentinels too.
  std::vector<std::string> sentinels;
  /// The name the sentinels monitor the master under (`sentinel monitor
  /// <name> ...`); required with `sentinels`.
  std::string master_name;
  /// Password for `AUTH` on the sentinels (`requirepass` of the sentinels);
  /// empty: no AUTH there. The data nodes use `username`/`password`.
  std::string sentinel_password;
  /// With N > 0, the pipelined gateway follows every write (a command that
  /// is not read-only, any batch holding one, every script) with
  /// `WAIT N <wait_timeout>` and answers the write only after WAIT: with
  /// fewer than N replicas acknowledging it, the write fails with
  /// `errc::not_replicated` (it did run on the master). 0: no WAIT.
  int64_t wait_replicas = 0;
  /// The timeout of each `WAIT` (whole milliseconds, at least 1).
  caf::timespan wait_timeout = std::chrono::seconds{1};
  /// Redis Cluster mode: `host`/`port` (or `url`) and `cluster_nodes` are
  /// seeds; the gateways read `CLUSTER SLOTS` from the first seed that
  /// answers, keep one connection per master and route every request by
  /// the slot of its key, following `MOVED` and `ASK` (see
  /// `actors/redis/cluster_router.hpp` and docs/operations.md "Redis
  /// Cluster"). Not with `sentinels`, `unix_socket` or `db` != 0.
  bool cluster = false;
  /// More cluster seeds, `host:port` each, tried after `host`/`port`.
  std::vector<std::string> cluster_nodes;

  /// Returns whether connections go through Redis Sentinel.
  bool use_sentinel() const noexcept { return !sentinels.empty(); }

  /// Returns whether the runtime must start an embedded server.
  bool use_embedded() const noexcept {
    return embedded
           || (host.empty() && unix_socket.empty() && url.empty()
               && sentinels.empty() && cluster_nodes.empty());
  }

  /// Returns where connections go, for logs and errors (never a password):
  /// `unix:<path>`, `<host>:<port>` or, with sentinels,
  /// `sentinel:<master-name>`.
  std::string endpoint() const {
    if (!sentinels.empty())
      return "sentinel:" + master_name;
    if (!unix_socket.empty())
      return "unix:" + unix_socket;
    auto h = host.empty() ? std::string{"127.0.0.1"} : host;
    if (h.find(':') != std::string::npos) // IPv6
      h = "[" + h + "]";
    return h + ":" + std::to_string(port);
  }
};

/// How adds trim a stream to its maximum length (`pulse.streaming.trim`,
/// `stream_options::trim`).
enum class trim_mode : uint8_t {
  /// `XADD ... MAXLEN ~ n`, as Go Pulse writes: Redis drops whole nodes of
  /// old entries, also entries a consumer group (a sink) has not read or
  /// acked yet; sinks then report them as lost (`stream_stats::trimmed`).
  approximate,
  /// One Lua script per add (`safe_add_script`): trims only entries
  /// that every consumer group of the stream has read and acked, so a
  /// lagging or stopped sink holds the stream above its maximum length
  /// instead of losing events. Costs one script run per add.
  safe,
};

/// Returns the configuration name of `x`: "approximate" or "safe".
inline const char* to_string(trim_mode x) {
  return x == trim_mode::safe ? "safe" : "approximate";
}

/// Parses a configuration name ("approximate" or "safe") into `out`.
/// Returns false, leaving `out` alone, for any other text.
inline bool parse_trim_mode(std::string_view name, trim_mode& out) {
  if (name == "approximate") {
    out = trim_mode::approximate;
    return true;
  }
  if (name == "safe") {
    out = trim_mode::safe;
    return true;
  }
  return false;
}

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
  /// Default maximum length of streams (0: unbounded).
  uint64_t stream_max_len = 1000;
  /// Default trimming of stream adds (`pulse.streaming.trim`).
  trim_mode trim = trim_mode::approximate;
  /// A subscriber that has not answered a batch for this long is named in a
  /// warning (again every period).
  caf::timespan slow_subscriber = std::chrono::seconds{10};
  /// Sinks run on a thread of their own (`pulse.streaming.detached-sinks`)
  /// instead of the scheduler's threads.
  bool detached_sinks = false;
};

/// Defaults of replicated maps (section `[pulse.rmap]`); see
/// `map_options::from`.
struct rmap_defaults {
  /// Maximum time joining a map waits for the subscription and the
  /// snapshot.
  caf::timespan join_timeout = std::chrono::seconds{10};
  /// A subscriber that has not answered a notification for this long is
  /// named in a warning (again every period).
  caf::timespan slow_subscriber = std::chrono::seconds{10};
};

/// Defaults of pool nodes (`[pulse.pool]`); each field is documented on the
/// `pool_options` member of the same name (`actors/pool/core.hpp`).
struct pool_defaults {
  /// `pulse.pool.worker-ttl`.
  caf::timespan worker_ttl = std::chrono::seconds{30};
  /// `pulse.pool.worker-shutdown-ttl`.
  caf::timespan worker_shutdown_ttl = std::chrono::minutes{2};
  /// `pulse.pool.close-timeout`.
  caf::timespan close_timeout = std::chrono::seconds{10};
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
  /// `pulse.pool.result-retention` (0: results are not kept).
  caf::timespan result_retention = std::chrono::hours{1};
  /// `pulse.pool.node-name` (empty: `<host>:<pid>:<k>`).
  std::string node_name;
  /// `pulse.pool.max-attempts` (0: retries off).
  uint64_t max_attempts = 0;
  /// `pulse.pool.retry-base`.
  caf::timespan retry_base = std::chrono::seconds{1};
  /// `pulse.pool.retry-cap`.
  caf::timespan retry_cap = std::chrono::minutes{10};
  /// `pulse.pool.retry-jitter` (percent, 0..100).
  uint64_t retry_jitter = 20;
  /// `pulse.pool.job-timeout` (0: none).
  caf::timespan job_timeout = caf::timespan{0};
  /// `pulse.pool.rate-limit` (0: no limit).
  uint64_t rate_limit = 0;
  /// `pulse.pool.rate-period`.
  caf::timespan rate_period = std::chrono::seconds{1};
  /// `pulse.pool.detached-workers`.
  bool detached_workers = false;
};

/// The metrics endpoint (section `[pulse.metrics]`,
/// `runtime/metrics_server.hpp`).
struct metrics_options {
  /// TCP port of `/metrics` and the dashboard; 0 (the default) turns the
  /// endpoint off.
  uint16_t port = 0;
  /// Address to listen on.
  std::string bind = "127.0.0.1";
  /// How long a scrape waits for each actor's counters; an actor that does
  /// not answer in time is left out of that scrape (counted in
  /// `pulse_scrape_timeouts_total`).
  caf::timespan scrape_timeout = std::chrono::seconds{2};
};

/// Every option of the Pulse runtime.
struct options {
  /// `[pulse.redis]`: how to reach Redis.
  redis_options redis;
  /// `[pulse.streaming]`: defaults of readers and sinks.
  streaming_defaults streaming;
  /// `[pulse.pool]`: defaults of pool nodes.
  pool_defaults pool;
  /// `[pulse.rmap]`: defaults of replicated maps.
  rmap_defaults rmap;
  /// `[pulse.metrics]`: the metrics endpoint.
  metrics_options metrics;
  /// spdlog level name (`pulse.log.level`).
  std::string log_level = "info";
};

} // namespace pulse
