#include "pulse/actors/streaming/sink_group.hpp"

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/actors/rmap/ops.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/trim.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse {

const script& sink_lease_script() {
  static const script s{R"lua(
local v = redis.call('GET', KEYS[1])
if not v or tonumber(v) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
)lua"};
  return s;
}

namespace detail {

command dead_letter_command(const resp::value& entry, const std::string& dlq_key,
                            const std::string& stream, const std::string& sink,
                            uint64_t deliveries, const std::string& error) {
  std::string id, n, p, t;
  if (entry.is_array() && entry.elements.size() == 2) {
    id = entry.elements[0].str;
    auto& f = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < f.size(); i += 2) {
      if (f[i].str == "n")
        n = f[i + 1].str;
      else if (f[i].str == "p")
        p = f[i + 1].str;
      else if (f[i].str == "t")
        t = f[i + 1].str;
    }
  }
  command c;
  c.args = {"XADD", dlq_key, "MAXLEN", "~", "10000", "*", "n", n, "p", p};
  if (!t.empty()) {
    c.args.emplace_back("t");
    c.args.emplace_back(t);
  }
  for (auto& x : {std::string{"id"}, id, std::string{"stream"}, stream,
                  std::string{"sink"}, sink, std::string{"deliveries"},
                  std::to_string(deliveries), std::string{"error"}, error})
    c.args.push_back(x);
  return c;
}

} // namespace detail

namespace sink_detail {

command eval_command(const script& s, std::vector<std::string> keys,
                     std::vector<std::string> args) {
  command c;
  c.args.reserve(3 + keys.size() + args.size());
  c.args.emplace_back("EVAL");
  c.args.emplace_back(s.source);
  c.args.emplace_back(std::to_string(keys.size()));
  c.args.insert(c.args.end(), keys.begin(), keys.end());
  c.args.insert(c.args.end(), args.begin(), args.end());
  return c;
}

command keepalive_command(const sink_config& cfg) {
  return eval_command(rmap_scripts::set(), rmap_ops::keys_of(cfg.keepalive_map()),
                      {"", "0", cfg.consumer, std::to_string(unix_ns())});
}

std::vector<command> join_commands(const sink_config& cfg,
                                   const std::string& stream,
                                   const std::string& start) {
  auto key = stream_key(stream);
  return {
    make_command("XGROUP", "CREATE", key, cfg.name, start, "MKSTREAM"),
    make_command("XGROUP", "CREATECONSUMER", key, cfg.name, cfg.consumer),
    eval_command(rmap_scripts::append_unique(),
                 rmap_ops::keys_of("stream:" + stream + ":sinks"),
                 {"", "0", cfg.name, cfg.consumer}),
  };
}

caf::error check_join(const std::vector<resp::value>& replies) {
  for (auto& r : replies)
    if (r.is_error() && r.str.compare(0, 9, "BUSYGROUP") != 0)
      return make_error(errc::redis_error, r.str);
  return caf::none;
}

} // namespace sink_detail

namespace sink_detail {

caf::expected<sink_config> join_group(services& rt, const std::string& name,
                                      const std::vector<std::string>& streams,
                                      sink_options opts) {
  if (auto err = validate_name(name, "pulse sink"))
    return err;
  if (streams.empty())
    return make_error(errc::invalid_argument,
                      "pulse sink: at least one stream is required");
  for (auto& s : streams)
    if (auto err = validate_name(s, "pulse stream"))
      return err;
  if (opts.ack_grace.count() <= 0 || opts.idle_check.count() <= 0)
    return make_error(errc::invalid_argument,
                      "pulse sink: ack grace and idle check must be positive");
  sink_config cfg;
  cfg.name = name;
  cfg.consumer = make_ulid();
  auto filter = topic_filter::make(opts);
  if (!filter)
    return filter.error();
  cfg.filter = std::move(*filter);
  cfg.opts = std::move(opts);
  cfg.redrive = dead_letters::redrive_mode_for(rt.redis());
  // Keep-alive first, so no sweeper sees the consumer without one.
  client c{rt.system(), rt.gateway()};
  std::vector<command> cmds{keepalive_command(cfg)};
  for (auto& s : streams)
    for (auto& cmd : join_commands(cfg, s, cfg.opts.start))
      cmds.push_back(std::move(cmd));
  auto res = c.batch(std::move(cmds));
  if (!res)
    return res.error();
  if (auto err = check_join(*res))
    return err;
  // Events trimmed away while no instance of this sink read (e.g. it was
  // stopped longer than MAXLEN entries): reported now, before reading.
  for (auto& s : streams)
    cfg.trimmed_at_start[s] = trim_watch::check(c, cfg.name, s, 0);
  return cfg;
}

} // namespace sink_detail

} // namespace pulse
