#include "runtime/config.hpp"

#include <fstream>
#include <thread>

#include <caf/config_value.hpp>

#include "runtime/errors.hpp"
#include "runtime/log.hpp"

namespace pulse {

using spec = option_spec;

const std::vector<option_spec>& known_options() {
  static const std::vector<option_spec> table{
    {"pulse.redis.host", spec::type::string,
     "Redis host; unset means: start an embedded redis-server"},
    {"pulse.redis.port", spec::type::port, "Redis TCP port"},
    {"pulse.redis.username", spec::type::string, "ACL user for AUTH"},
    {"pulse.redis.password", spec::type::string, "password for AUTH"},
    {"pulse.redis.db", spec::type::integer, "database index for SELECT"},
    {"pulse.redis.connect-timeout", spec::type::timespan,
     "maximum time to connect, AUTH and SELECT"},
    {"pulse.redis.command-timeout", spec::type::timespan,
     "maximum time a request waits for its reply"},
    {"pulse.redis.embedded", spec::type::boolean,
     "start a private redis-server even if a host is set"},
    {"pulse.redis.reconnect-min", spec::type::timespan,
     "first reconnect delay (doubles per attempt, with jitter)"},
    {"pulse.redis.reconnect-max", spec::type::timespan,
     "maximum reconnect delay"},
    {"pulse.redis.max-queued", spec::type::integer,
     "requests queued while disconnected before failing fast"},
    {"pulse.redis.server-binary", spec::type::string,
     "redis-server binary used for the embedded server"},
    {"pulse.redis.reply-spin", spec::type::timespan,
     "how long a blocking caller polls for its reply before sleeping"},
    {"pulse.streaming.block-duration", spec::type::timespan,
     "XREAD/XREADGROUP BLOCK duration of readers and sinks"},
    {"pulse.streaming.max-polled", spec::type::integer,
     "COUNT of each stream read"},
    {"pulse.streaming.buffer-size", spec::type::integer,
     "maximum events per batch sent to subscribers"},
    {"pulse.streaming.ack-grace-period", spec::type::timespan,
     "sink: unacked events are reclaimed after this long"},
    {"pulse.streaming.max-deliveries", spec::type::integer,
     "sink: deliveries before an event is dead-lettered (0: never)"},
    {"pulse.streaming.idle-check", spec::type::timespan,
     "sink: period of reclaim and stale-consumer checks"},
    {"pulse.streaming.stream-max-len", spec::type::integer,
     "default approximate MAXLEN of streams (0: unbounded)"},
    {"pulse.pool.worker-ttl", spec::type::timespan,
     "pool: workers and nodes silent this long are dead"},
    {"pulse.pool.worker-shutdown-ttl", spec::type::timespan,
     "pool: how long close waits for handlers to stop"},
    {"pulse.pool.ack-grace-period", spec::type::timespan,
     "pool: dispatch waits 2x this long for the start"},
    {"pulse.pool.job-sink-block-duration", spec::type::timespan,
     "pool: BLMPOP block duration of workers"},
    {"pulse.pool.requeue-delay", spec::type::timespan,
     "pool: delay before a start refused with requeue is retried"},
    {"pulse.pool.max-queued-jobs", spec::type::integer,
     "pool: dispatch fails fast while this many jobs wait (0: no limit)"},
    {"pulse.pool.max-batch", spec::type::integer,
     "pool: most queue entries a worker takes per read"},
    {"pulse.log.level", spec::type::string,
     "log level: trace, debug, info, warn, error, critical, off"},
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

caf::expected<options> options_from(const caf::settings& xs) {
  if (auto err = validate_settings(xs))
    return err;
  options result;
  auto& r = result.redis;
  r.host = caf::get_or(xs, "pulse.redis.host", r.host);
  auto port = caf::get_or(xs, "pulse.redis.port", int64_t{r.port});
  if (port < 1 || port > 65535)
    return make_error(errc::invalid_config,
                      "pulse.redis.port must be in 1..65535, got "
                        + std::to_string(port));
  r.port = static_cast<uint16_t>(port);
  r.username = caf::get_or(xs, "pulse.redis.username", r.username);
  r.password = caf::get_or(xs, "pulse.redis.password", r.password);
  r.db = caf::get_or(xs, "pulse.redis.db", r.db);
  if (r.db < 0)
    return make_error(errc::invalid_config, "pulse.redis.db must be >= 0");
  r.connect_timeout = caf::get_or(xs, "pulse.redis.connect-timeout",
                                  r.connect_timeout);
  r.command_timeout = caf::get_or(xs, "pulse.redis.command-timeout",
                                  r.command_timeout);
  r.embedded = caf::get_or(xs, "pulse.redis.embedded", r.embedded);
  r.reconnect_min = caf::get_or(xs, "pulse.redis.reconnect-min",
                                r.reconnect_min);
  r.reconnect_max = caf::get_or(xs, "pulse.redis.reconnect-max",
                                r.reconnect_max);
  auto max_queued = caf::get_or(xs, "pulse.redis.max-queued",
                                static_cast<int64_t>(r.max_queued));
  if (max_queued < 1)
    return make_error(errc::invalid_config,
                      "pulse.redis.max-queued must be >= 1");
  r.max_queued = static_cast<uint64_t>(max_queued);
  r.server_binary = caf::get_or(xs, "pulse.redis.server-binary",
                                r.server_binary);
  r.reply_spin = caf::get_or(xs, "pulse.redis.reply-spin", r.reply_spin);
  if (r.reply_spin.count() < 0)
    return make_error(errc::invalid_config,
                      "pulse.redis.reply-spin must be >= 0");
  for (auto [key, val] :
       {std::pair{"pulse.redis.connect-timeout", r.connect_timeout},
        std::pair{"pulse.redis.command-timeout", r.command_timeout},
        std::pair{"pulse.redis.reconnect-min", r.reconnect_min},
        std::pair{"pulse.redis.reconnect-max", r.reconnect_max}})
    if (val.count() <= 0)
      return make_error(errc::invalid_config,
                        std::string{key} + " must be positive");
  auto& st = result.streaming;
  st.block_duration = caf::get_or(xs, "pulse.streaming.block-duration",
                                  st.block_duration);
  st.ack_grace_period = caf::get_or(xs, "pulse.streaming.ack-grace-period",
                                    st.ack_grace_period);
  st.idle_check = caf::get_or(xs, "pulse.streaming.idle-check", st.idle_check);
  // A block duration of 0 means "block forever"; the others must be > 0.
  if (st.block_duration.count() < 0)
    return make_error(errc::invalid_config,
                      "pulse.streaming.block-duration must not be negative");
  if (st.ack_grace_period.count() <= 0)
    return make_error(errc::invalid_config,
                      "pulse.streaming.ack-grace-period must be positive");
  if (st.idle_check.count() <= 0)
    return make_error(errc::invalid_config,
                      "pulse.streaming.idle-check must be positive");
  for (auto [key, dst, min] :
       {std::tuple{"pulse.streaming.max-polled", &st.max_polled, int64_t{1}},
        std::tuple{"pulse.streaming.buffer-size", &st.buffer_size, int64_t{1}},
        std::tuple{"pulse.streaming.max-deliveries", &st.max_deliveries,
                   int64_t{0}},
        std::tuple{"pulse.streaming.stream-max-len", &st.stream_max_len,
                   int64_t{0}}}) {
    auto v = caf::get_or(xs, key, static_cast<int64_t>(*dst));
    if (v < min)
      return make_error(errc::invalid_config,
                        std::string{key} + " must be >= "
                          + std::to_string(min));
    *dst = static_cast<uint64_t>(v);
  }
  auto& pl = result.pool;
  for (auto [key, dst] :
       {std::pair{"pulse.pool.worker-ttl", &pl.worker_ttl},
        std::pair{"pulse.pool.worker-shutdown-ttl", &pl.worker_shutdown_ttl},
        std::pair{"pulse.pool.ack-grace-period", &pl.ack_grace_period},
        std::pair{"pulse.pool.job-sink-block-duration",
                  &pl.job_sink_block_duration},
        std::pair{"pulse.pool.requeue-delay", &pl.requeue_delay}}) {
    *dst = caf::get_or(xs, key, *dst);
    if (dst->count() <= 0)
      return make_error(errc::invalid_config,
                        std::string{key} + " must be positive");
  }
  for (auto [key, dst, min] :
       {std::tuple{"pulse.pool.max-queued-jobs", &pl.max_queued_jobs,
                   int64_t{0}},
        std::tuple{"pulse.pool.max-batch", &pl.max_batch, int64_t{1}}}) {
    auto v = caf::get_or(xs, key, static_cast<int64_t>(*dst));
    if (v < min)
      return make_error(errc::invalid_config,
                        std::string{key} + " must be >= "
                          + std::to_string(min));
    *dst = static_cast<uint64_t>(v);
  }
  result.log_level = caf::get_or(xs, "pulse.log.level", result.log_level);
  auto lvl = spdlog::level::from_str(result.log_level);
  if (lvl == spdlog::level::off && result.log_level != "off")
    return make_error(errc::invalid_config,
                      "pulse.log.level: unknown level \"" + result.log_level
                        + "\"");
  return result;
}

config::config() {
  add_error_category(pulse_category::value, render_pulse_error);
  config_file_path = "caf-application.conf";
  // CAF defaults to max(cores, 4) workers; match the cores instead.
  auto cores = std::max(2u, std::thread::hardware_concurrency());
  set("scheduler.max-threads", static_cast<size_t>(cores));
  // Idle workers poll instead of sleeping 50 us between polls in CAF's
  // "moderate" phase (they still fall back to the relaxed phase's sleep
  // after it): measured, this took an event-based actor's request to Redis
  // from 130 to 64 us and actor-pipelined SETs up by about a fifth, at no
  // visible idle CPU cost. `[work-stealing] moderate-sleep-duration`
  // overrides it.
  set("work-stealing.moderate-sleep-duration", caf::timespan{0});
  // ... and poll 3000 times instead of 500 before that sleep (~60-100 us on
  // the 2-core VM we measure on): long enough to cover a loopback round
  // trip, so a worker waiting for Redis' reply is still awake when it
  // arrives. Measured: event-based request to Redis 60 -> 27 us, 128
  // actor-pipelined SETs in flight +15 %; an idle node's CPU unchanged; a
  // worker fed one message per ms 2.6 -> 4.6 % of a core (CAF's own
  // defaults: 24 %), one per 200 us 14 -> 22 % (CAF's: 30 %).
  set("work-stealing.moderate-poll-attempts", size_t{3000});
  // Declare options unbound (CAF 0.17 does not store nested file values in
  // bound members); values are read from content after parse().
  opt_group redis{custom_options_, "pulse.redis"};
  redis.add<std::string>("host", "Redis host (unset: embedded server)")
    .add<uint16_t>("port", "Redis TCP port")
    .add<std::string>("username", "ACL user for AUTH")
    .add<std::string>("password", "password for AUTH")
    .add<int64_t>("db", "database index for SELECT")
    .add<caf::timespan>("connect-timeout", "connect + AUTH + SELECT timeout")
    .add<caf::timespan>("command-timeout", "per-request reply timeout")
    .add<bool>("embedded", "start a private redis-server")
    .add<caf::timespan>("reconnect-min", "first reconnect delay")
    .add<caf::timespan>("reconnect-max", "maximum reconnect delay")
    .add<int64_t>("max-queued", "requests queued while disconnected")
    .add<std::string>("server-binary", "redis-server binary for embedded")
    .add<caf::timespan>("reply-spin", "blocking callers poll this long");
  opt_group{custom_options_, "pulse.log"}.add<std::string>(
    "level", "trace, debug, info, warn, error, critical, off");
}

caf::error config::read(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i)
    args.emplace_back(argv[i]);
  return read(std::move(args));
}

caf::error config::read(std::vector<std::string> args) {
  std::string path = config_file_path;
  bool explicit_path = false;
  static constexpr std::string_view flag = "--config-file=";
  for (auto& arg : args)
    if (arg.compare(0, flag.size(), flag) == 0) {
      path = arg.substr(flag.size());
      explicit_path = true;
    }
  std::ifstream probe{path};
  if (!probe) {
    if (explicit_path)
      return make_error(errc::invalid_config,
                        "config file not found: " + path);
  } else {
    // Check the file ourselves first: CAF 0.17 silently drops file values
    // of the wrong type and accepts unknown keys.
    auto parsed = parse_config_file(path.c_str());
    if (!parsed)
      return make_error(errc::invalid_config,
                        "cannot parse " + path + ": " + render(parsed.error()));
    if (auto err = validate_settings(*parsed))
      return make_error(errc::invalid_config,
                        path + ": " + render_pulse_error(err.code(),
                                                         err.category(),
                                                         err.context())
                                        .substr(sizeof("pulse.invalid_config: ")
                                                - 1));
  }
  config_file_path = path;
  if (auto err = parse(std::move(args), path.c_str()))
    return make_error(errc::invalid_config, render(err));
  auto result = options_from(content);
  if (!result)
    return result.error();
  opts_ = std::move(*result);
  if (auto err = log::set_level(opts_.log_level))
    return err;
  return caf::none;
}

} // namespace pulse
