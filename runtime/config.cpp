#include "pulse/runtime/config.hpp"

#include <algorithm>
#include <fstream>
#include <type_traits>
#include <thread>

#include <caf/config_value.hpp>

#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/actors/redis/sentinel.hpp"
#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

using spec = option_spec;
using field_ptr = caf::variant<std::string*, int64_t*, uint64_t*, uint16_t*,
                               bool*, caf::timespan*, trim_mode*,
                               std::vector<std::string>*>;

namespace {

// Returns how to find `field` of section `sec` in an `options`.
template <class S, class T>
std::function<field_ptr(options&)> at(S options::*sec, T S::*field) {
  return [sec, field](options& o) -> field_ptr { return &((o.*sec).*field); };
}

template <class T>
std::function<field_ptr(options&)> at(T options::*field) {
  return [field](options& o) -> field_ptr { return &(o.*field); };
}

constexpr auto positive = spec::bound::positive;
constexpr auto non_negative = spec::bound::non_negative;
constexpr auto any = spec::bound::none;
constexpr auto percent = spec::bound::percent;

} // namespace

const std::vector<option_spec>& known_options() {
  using o = options;
  using rd = redis_options;
  using sd = streaming_defaults;
  using pd = pool_defaults;
  using md = rmap_defaults;
  using mo = metrics_options;
  using t = spec::type;
  static const std::vector<option_spec> table{
    {"pulse.redis.url", t::string,
     "Redis URL, overriding host/port/unix-socket/db/username/password: "
     "redis://[[user]:password@]host[:port][/db], rediss://... (TLS), "
     "unix:///path/redis.sock[?db=N] or unix:/path", any,
     at(&o::redis, &rd::url)},
    {"pulse.redis.host", t::string,
     "Redis host; unset (with no url or unix-socket) means: start an "
     "embedded redis-server", any, at(&o::redis, &rd::host)},
    {"pulse.redis.port", t::port, "Redis TCP port", positive,
     at(&o::redis, &rd::port)},
    {"pulse.redis.unix-socket", t::string,
     "path of Redis' Unix domain socket; when set, host and port are unused",
     any, at(&o::redis, &rd::unix_socket)},
    {"pulse.redis.username", t::string, "ACL user for AUTH", any,
     at(&o::redis, &rd::username)},
    {"pulse.redis.password", t::string,
     "password for AUTH (PULSE_REDIS_PASSWORD overrides it)", any,
     at(&o::redis, &rd::password)},
    {"pulse.redis.password-file", t::string,
     "file holding the password for AUTH (instead of password)", any,
     at(&o::redis, &rd::password_file)},
    {"pulse.redis.db", t::integer, "database index for SELECT", non_negative,
     at(&o::redis, &rd::db)},
    {"pulse.redis.tls", t::boolean,
     "TLS on every connection (rediss:// URLs turn it on; TCP only)", any,
     at(&o::redis, &rd::tls)},
    {"pulse.redis.tls-ca-file", t::string,
     "PEM CA certificates that verify the server (empty: system store)",
     any, at(&o::redis, &rd::tls_ca_file)},
    {"pulse.redis.tls-cert-file", t::string,
     "PEM client certificate for mutual TLS (with tls-key-file)", any,
     at(&o::redis, &rd::tls_cert_file)},
    {"pulse.redis.tls-key-file", t::string,
     "PEM private key of tls-cert-file", any,
     at(&o::redis, &rd::tls_key_file)},
    {"pulse.redis.tls-server-name", t::string,
     "name the server certificate must hold, also sent as SNI when a DNS "
     "name (empty: the host)", any, at(&o::redis, &rd::tls_server_name)},
    {"pulse.redis.tls-verify", t::boolean,
     "verify the server certificate and its name (false: tests only)", any,
     at(&o::redis, &rd::tls_verify)},
    {"pulse.redis.connect-timeout", t::timespan,
     "maximum time to connect, AUTH and SELECT", positive,
     at(&o::redis, &rd::connect_timeout)},
    {"pulse.redis.connect-wait", t::timespan,
     "at start, keep retrying a refused connect this long (Redis still "
     "starting) before failing (0: fail at once)", non_negative,
     at(&o::redis, &rd::connect_wait)},
    {"pulse.redis.tcp-keepalive", t::timespan,
     "TCP keepalive idle time of connections (probes every third of it, 3 "
     "probes; whole seconds; 0: off)", non_negative,
     at(&o::redis, &rd::tcp_keepalive)},
    {"pulse.redis.command-timeout", t::timespan,
     "maximum time a request waits for its reply", positive,
     at(&o::redis, &rd::command_timeout)},
    {"pulse.redis.embedded", t::boolean,
     "start a private redis-server even if a host is set", any,
     at(&o::redis, &rd::embedded)},
    {"pulse.redis.reconnect-min", t::timespan,
     "first reconnect delay (doubles per attempt, with jitter)", positive,
     at(&o::redis, &rd::reconnect_min)},
    {"pulse.redis.reconnect-max", t::timespan, "maximum reconnect delay",
     positive, at(&o::redis, &rd::reconnect_max)},
    {"pulse.redis.max-queued", t::integer,
     "requests queued while disconnected before failing fast", positive,
     at(&o::redis, &rd::max_queued)},
    {"pulse.redis.max-payload", t::integer,
     "largest request in bytes; larger ones fail with too_large (0: none)",
     non_negative, at(&o::redis, &rd::max_payload)},
    {"pulse.redis.server-binary", t::string,
     "redis-server binary used for the embedded server", any,
     at(&o::redis, &rd::server_binary)},
    {"pulse.redis.reply-spin", t::timespan,
     "how long a blocking caller polls for its reply before sleeping",
     non_negative, at(&o::redis, &rd::reply_spin)},
    {"pulse.redis.reply-lead", t::boolean,
     "a blocking caller reads its own reply while the reader thread is "
     "idle (plain TCP and Unix sockets)", any,
     at(&o::redis, &rd::reply_lead)},
    // Redis Sentinel (actors/redis/sentinel.hpp).
    {"pulse.redis.sentinels", t::string_list,
     "Redis Sentinel: host:port of each sentinel; when set, connections go "
     "to the master they name (host/port/unix-socket unused)", any,
     at(&o::redis, &rd::sentinels)},
    {"pulse.redis.master-name", t::string,
     "Redis Sentinel: the monitored master's name (needed with sentinels)",
     any, at(&o::redis, &rd::master_name)},
    {"pulse.redis.sentinel-password", t::string,
     "Redis Sentinel: password for AUTH on the sentinels (empty: none)", any,
     at(&o::redis, &rd::sentinel_password)},
    // Redis Cluster (actors/redis/cluster_router.hpp).
    {"pulse.redis.cluster", t::boolean,
     "Redis Cluster: route requests by key slot over one connection per "
     "master; host/port (or url) and cluster-nodes are the seeds", any,
     at(&o::redis, &rd::cluster)},
    {"pulse.redis.cluster-nodes", t::string_list,
     "Redis Cluster: more seed nodes, host:port each", any,
     at(&o::redis, &rd::cluster_nodes)},
    {"pulse.redis.wait-replicas", t::integer,
     "writes through the pipelined gateway are followed by WAIT with this "
     "many replicas and fail with not_replicated below it (0: off)",
     non_negative, at(&o::redis, &rd::wait_replicas)},
    {"pulse.redis.wait-timeout", t::timespan,
     "timeout of each WAIT (wait-replicas)", positive,
     at(&o::redis, &rd::wait_timeout)},
    {"pulse.streaming.block-duration", t::timespan,
     "XREAD/XREADGROUP BLOCK duration of readers and sinks (0: forever)",
     non_negative, at(&o::streaming, &sd::block_duration)},
    {"pulse.streaming.max-polled", t::integer, "COUNT of each stream read",
     positive, at(&o::streaming, &sd::max_polled)},
    {"pulse.streaming.buffer-size", t::integer,
     "maximum events per batch sent to subscribers", positive,
     at(&o::streaming, &sd::buffer_size)},
    {"pulse.streaming.ack-grace-period", t::timespan,
     "sink: unacked events are reclaimed after this long", positive,
     at(&o::streaming, &sd::ack_grace_period)},
    {"pulse.streaming.max-deliveries", t::integer,
     "sink: deliveries before an event is dead-lettered (0: never)",
     non_negative, at(&o::streaming, &sd::max_deliveries)},
    {"pulse.streaming.idle-check", t::timespan,
     "sink: period of reclaim and stale-consumer checks", positive,
     at(&o::streaming, &sd::idle_check)},
    {"pulse.streaming.stream-max-len", t::integer,
     "default maximum length of streams (0: unbounded)", non_negative,
     at(&o::streaming, &sd::stream_max_len)},
    {"pulse.streaming.trim", t::string,
     "how adds trim streams to stream-max-len: \"approximate\" (MAXLEN ~, "
     "as Go Pulse) or \"safe\" (never entries a consumer group has not "
     "read and acked)", any, at(&o::streaming, &sd::trim)},
    {"pulse.streaming.slow-subscriber", t::timespan,
     "a subscriber silent this long on a batch is named in a warning",
     positive, at(&o::streaming, &sd::slow_subscriber)},
    {"pulse.streaming.detached-sinks", t::boolean,
     "run each sink actor on a thread of its own instead of the scheduler's",
     any, at(&o::streaming, &sd::detached_sinks)},
    {"pulse.rmap.join-timeout", t::timespan,
     "maximum time joining a map waits for subscription and snapshot",
     positive, at(&o::rmap, &md::join_timeout)},
    {"pulse.rmap.slow-subscriber", t::timespan,
     "a map subscriber silent this long is named in a warning", positive,
     at(&o::rmap, &md::slow_subscriber)},
    {"pulse.pool.worker-ttl", t::timespan,
     "pool: workers and nodes silent this long are dead", positive,
     at(&o::pool, &pd::worker_ttl)},
    {"pulse.pool.worker-shutdown-ttl", t::timespan,
     "pool: how long close waits for handlers to stop", positive,
     at(&o::pool, &pd::worker_shutdown_ttl)},
    {"pulse.pool.close-timeout", t::timespan,
     "pool: close gives up handing jobs over after Redis was unreachable "
     "this long", positive, at(&o::pool, &pd::close_timeout)},
    {"pulse.pool.ack-grace-period", t::timespan,
     "pool: dispatch waits 2x this long for the start", positive,
     at(&o::pool, &pd::ack_grace_period)},
    {"pulse.pool.job-sink-block-duration", t::timespan,
     "pool: BLMPOP block duration of workers", positive,
     at(&o::pool, &pd::job_sink_block_duration)},
    {"pulse.pool.requeue-delay", t::timespan,
     "pool: delay before a start refused with requeue is retried", positive,
     at(&o::pool, &pd::requeue_delay)},
    {"pulse.pool.result-retention", t::timespan,
     "pool: how long the outcome of a finished job (result or failure) "
     "stays readable by key (0: not kept)", non_negative,
     at(&o::pool, &pd::result_retention)},
    {"pulse.pool.max-queued-jobs", t::integer,
     "pool: dispatch fails fast while this many jobs wait (0: no limit)",
     non_negative, at(&o::pool, &pd::max_queued_jobs)},
    {"pulse.pool.max-batch", t::integer,
     "pool: most queue entries a worker takes per read", positive,
     at(&o::pool, &pd::max_batch)},
    {"pulse.metrics.port", t::port,
     "TCP port of the Prometheus metrics endpoint and dashboard (0: off)",
     non_negative, at(&o::metrics, &mo::port)},
    {"pulse.metrics.bind", t::string,
     "address the metrics endpoint listens on", any,
     at(&o::metrics, &mo::bind)},
    {"pulse.metrics.scrape-timeout", t::timespan,
     "how long a scrape waits for each actor's counters", positive,
     at(&o::metrics, &mo::scrape_timeout)},
    {"pulse.pool.max-attempts", t::integer,
     "pool: attempts a job gets before the dead set (0: retries off)",
     non_negative, at(&o::pool, &pd::max_attempts)},
    {"pulse.pool.retry-base", t::timespan,
     "pool: backoff before the second attempt (doubles per attempt)",
     positive, at(&o::pool, &pd::retry_base)},
    {"pulse.pool.retry-cap", t::timespan,
     "pool: longest backoff between two attempts", positive,
     at(&o::pool, &pd::retry_cap)},
    {"pulse.pool.retry-jitter", t::integer,
     "pool: percent of each backoff taken off at random (0..100)", percent,
     at(&o::pool, &pd::retry_jitter)},
    {"pulse.pool.job-timeout", t::timespan,
     "pool: a job running this long is stopped and fails an attempt (0: "
     "none)", non_negative, at(&o::pool, &pd::job_timeout)},
    {"pulse.pool.rate-limit", t::integer,
     "pool: most job starts in any rate-period, across all nodes (0: no "
     "limit)", non_negative, at(&o::pool, &pd::rate_limit)},
    {"pulse.pool.rate-period", t::timespan,
     "pool: the window of rate-limit", positive,
     at(&o::pool, &pd::rate_period)},
    {"pulse.pool.detached-workers", t::boolean,
     "pool: run each worker on a thread of its own instead of the "
     "scheduler's (for handlers that block)",
     any, at(&o::pool, &pd::detached_workers)},
    {"pulse.pool.node-name", t::string,
     "pool: human-readable node name (default <host>:<pid>:<k>); workers "
     "are <name>:<i>",
     any, at(&o::pool, &pd::node_name)},
    {"pulse.log.level", t::string,
     "log level: trace, debug, info, warn, error, critical, off", any,
     at(&o::log_level)},
  };
  return table;
}

namespace {

const char* type_name(spec::type t) {
  switch (t) {
    case spec::type::string: return "a quoted string";
    case spec::type::integer: return "an integer";
    case spec::type::port: return "an integer in 1..65535";
    case spec::type::boolean: return "true or false";
    case spec::type::timespan: return "a duration such as 500ms or 2s";
    case spec::type::string_list:
      return "a list of quoted strings such as [\"a\", \"b\"]";
  }
  return "?";
}

bool type_matches(spec::type t, const caf::config_value& x) {
  switch (t) {
    case spec::type::string:
      return caf::holds_alternative<std::string>(x);
    case spec::type::integer:
    case spec::type::port:
      return caf::holds_alternative<caf::config_value::integer>(x);
    case spec::type::boolean:
      return caf::holds_alternative<bool>(x);
    case spec::type::timespan:
      return caf::holds_alternative<caf::timespan>(x);
    case spec::type::string_list: {
      auto xs = caf::get_if<caf::config_value::list>(&x);
      return xs != nullptr
             && std::all_of(xs->begin(), xs->end(), [](const auto& y) {
                  return caf::holds_alternative<std::string>(y);
                });
    }
  }
  return false;
}

const spec* find_spec(const std::string& key) {
  for (auto& x : known_options())
    if (key == x.key)
      return &x;
  return nullptr;
}

caf::error validate_dict(const caf::settings& xs, const std::string& prefix) {
  for (auto& [name, val] : xs) {
    auto key = prefix.empty() ? name : prefix + "." + name;
    if (auto dict = caf::get_if<caf::settings>(&val)) {
      if (auto err = validate_dict(*dict, key))
        return err;
      continue;
    }
    auto s = find_spec(key);
    if (s == nullptr)
      return make_error(errc::invalid_config, "unknown option " + key);
    if (!type_matches(s->expected, val))
      return make_error(errc::invalid_config,
                        key + " must be " + type_name(s->expected) + ", got "
                          + caf::to_string(val));
  }
  return caf::none;
}

} // namespace

caf::error validate_settings(const caf::settings& xs) {
  auto i = xs.find("pulse");
  if (i == xs.end())
    return caf::none;
  auto dict = caf::get_if<caf::settings>(&i->second);
  if (dict == nullptr)
    return make_error(errc::invalid_config, "pulse must be a section");
  return validate_dict(*dict, "pulse");
}

namespace {

caf::error range_error(const spec& opt, const std::string& what) {
  return make_error(errc::invalid_config,
                    std::string{opt.key} + " must " + what);
}

// Reads one option from `xs` into its member (keeping the default when
// absent) and checks its bound.
caf::error apply(const spec& opt, const caf::settings& xs, options& out) {
  auto dst = opt.field(out);
  if (auto str = caf::get_if<std::string*>(&dst)) {
    **str = caf::get_or(xs, opt.key, **str);
    return caf::none;
  }
  if (auto list = caf::get_if<std::vector<std::string>*>(&dst)) {
    **list = caf::get_or(xs, opt.key, **list);
    return caf::none;
  }
  if (auto mode = caf::get_if<trim_mode*>(&dst)) {
    auto name = caf::get_or(xs, opt.key, std::string{to_string(**mode)});
    if (!parse_trim_mode(name, **mode))
      return range_error(opt, "be \"approximate\" or \"safe\", got \""
                                + name + "\"");
    return caf::none;
  }
  if (auto flag = caf::get_if<bool*>(&dst)) {
    **flag = caf::get_or(xs, opt.key, **flag);
    return caf::none;
  }
  if (auto span = caf::get_if<caf::timespan*>(&dst)) {
    auto v = caf::get_or(xs, opt.key, **span);
    if (opt.min == spec::bound::positive && v.count() <= 0)
      return range_error(opt, "be positive");
    if (opt.min == spec::bound::non_negative && v.count() < 0)
      return range_error(opt, "not be negative");
    **span = v;
    return caf::none;
  }
  // Integers of every width.
  int64_t current = 0;
  caf::visit([&](auto* p) {
    using t = std::remove_pointer_t<decltype(p)>;
    if constexpr (std::is_integral_v<t> && !std::is_same_v<t, bool>)
      current = static_cast<int64_t>(*p);
  }, dst);
  auto v = caf::get_or(xs, opt.key, current);
  // A port whose bound is non_negative may be 0 (meaning "off").
  if (auto lo = opt.min == spec::bound::non_negative ? 0 : 1;
      opt.expected == spec::type::port && (v < lo || v > 65535))
    return range_error(opt, "be in " + std::to_string(lo) + "..65535, got "
                              + std::to_string(v));
  if (opt.min == spec::bound::positive && v < 1)
    return range_error(opt, "be >= 1, got " + std::to_string(v));
  if (opt.min == spec::bound::non_negative && v < 0)
    return range_error(opt, "be >= 0, got " + std::to_string(v));
  if (opt.min == spec::bound::percent && (v < 0 || v > 100))
    return range_error(opt, "be in 0..100, got " + std::to_string(v));
  caf::visit([&](auto* p) {
    using t = std::remove_pointer_t<decltype(p)>;
    if constexpr (std::is_integral_v<t> && !std::is_same_v<t, bool>)
      *p = static_cast<t>(v);
  }, dst);
  return caf::none;
}

} // namespace

caf::expected<options> options_from(const caf::settings& xs) {
  if (auto err = validate_settings(xs))
    return err;
  options result;
  for (auto& opt : known_options())
    if (auto err = apply(opt, xs, result))
      return err;
  // The URL overrides the endpoint and credentials it names.
  if (auto err = apply_redis_url(result.redis))
    return err;
  if (auto err = detail::check_sentinel_options(result.redis))
    return err;
  if (auto err = detail::check_cluster_options(result.redis))
    return err;
  auto lvl = spdlog::level::from_str(result.log_level);
  if (lvl == spdlog::level::off && result.log_level != "off")
    return make_error(errc::invalid_config,
                      "pulse.log.level: unknown level \"" + result.log_level
                        + "\"");
  return result;
}

} // namespace pulse
