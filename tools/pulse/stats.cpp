/// `pulse stats [--watch]`: one screen of totals (streams, entries, sinks,
/// pending, lag, dead letters; maps; pools, nodes, workers, jobs) and Redis'
/// own figures (`INFO`), refreshed with `--watch`. Reads with `SCAN`,
/// `XINFO STREAM|GROUPS`, `ZRANGEBYSCORE`, `HLEN`, `GET`, `INFO`.

#include <iostream>
#include <set>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "output.hpp"
#include "session.hpp"
#include "pulse/actors/pool/scripts.hpp"

namespace pulse::cli {

namespace {

using nlohmann::json;

struct stats_flags {
  bool watch = false;
  std::string interval = "2s";
  size_t iterations = 0; // 0: until interrupted
};

/// Returns `field` of an `INFO` reply (`field:value` lines), or "".
std::string info_field(const std::string& info, const std::string& field) {
  auto at = info.find(field + ":");
  if (at == std::string::npos)
    return "";
  auto from = at + field.size() + 1;
  auto end = info.find_first_of("\r\n", from);
  return info.substr(from, end - from);
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

json collect(session& s) {
  json streams{{"streams", 0}, {"entries", 0}, {"sinks", 0},
               {"pending", 0}, {"lag", 0},     {"dead_letters", 0}};
  auto keys = s.scan("pulse:stream:*", "stream");
  std::vector<command> cmds;
  for (auto& k : keys) {
    cmds.push_back(make_command("XLEN", k));
    cmds.push_back(make_command("XINFO", "GROUPS", k));
  }
  auto rs = s.batch(std::move(cmds));
  for (size_t i = 0; i < keys.size(); ++i) {
    if (rs[2 * i].is_error())
      continue;
    auto len = rs[2 * i].integer;
    if (ends_with(keys[i], ":dead-letter")) {
      streams["dead_letters"] = streams["dead_letters"].get<int64_t>() + len;
      continue;
    }
    streams["streams"] = streams["streams"].get<int64_t>() + 1;
    streams["entries"] = streams["entries"].get<int64_t>() + len;
    for (auto& g : rs[2 * i + 1].elements) {
      auto f = pairs(g);
      streams["sinks"] = streams["sinks"].get<int64_t>() + 1;
      streams["pending"] = streams["pending"].get<int64_t>()
                           + f["pending"].integer;
      streams["lag"] = streams["lag"].get<int64_t>() + f["lag"].integer;
    }
  }
  auto maps = s.scan("map:*:content", "hash").size();
  std::set<std::string> pools;
  static constexpr std::string_view head = "pulse:pool:{";
  for (auto& k : s.scan("pulse:pool:{*}:*")) {
    auto end = k.find("}:", head.size());
    if (end != std::string::npos)
      pools.insert(k.substr(head.size(), end - head.size()));
  }
  auto now = s.now_ms();
  int64_t nodes = 0, workers = 0, jobs = 0, pending = 0;
  for (auto& name : pools) {
    auto p = pool_scripts::pool_prefix(name);
    auto r = s.batch({make_command("ZRANGEBYSCORE", p + "alive",
                                   std::to_string(now), "+inf"),
                      make_command("HLEN", p + "workers"),
                      make_command("HLEN", p + "jobs"),
                      make_command("GET", p + "queued")});
    for (auto& m : r[0].elements)
      nodes += m.str.rfind("n:", 0) == 0 ? 1 : 0;
    workers += r[1].integer;
    jobs += r[2].integer;
    pending += to_int(r[3].str);
  }
  auto info = s("INFO").str;
  return {{"streams", streams},
          {"maps", {{"maps", maps}}},
          {"pools",
           {{"pools", pools.size()},
            {"nodes", nodes},
            {"workers", workers},
            {"jobs", jobs},
            {"pending", pending}}},
          {"redis",
           {{"version", info_field(info, "redis_version")},
            {"uptime_s", to_int(info_field(info, "uptime_in_seconds"))},
            {"clients", to_int(info_field(info, "connected_clients"))},
            {"used_memory", info_field(info, "used_memory_human")},
            {"endpoint", s.opts().redis.endpoint()}}}};
}

void print(const json& x) {
  auto& st = x["streams"];
  auto& pl = x["pools"];
  auto& rd = x["redis"];
  table t{{"", "", "", ""}};
  auto n = [](const json& v) { return v.dump(); };
  t.add({"streams", n(st["streams"]), "entries", n(st["entries"])});
  t.add({"sinks", n(st["sinks"]), "pending", n(st["pending"])});
  t.add({"lag", n(st["lag"]), "dead letters", n(st["dead_letters"])});
  t.add({"maps", n(x["maps"]["maps"]), "", ""});
  t.add({"pools", n(pl["pools"]), "nodes", n(pl["nodes"])});
  t.add({"workers", n(pl["workers"]), "jobs", n(pl["jobs"])});
  t.add({"pending jobs", n(pl["pending"]), "", ""});
  t.add({"redis", rd["endpoint"].get<std::string>(), "version",
         rd["version"].get<std::string>()});
  t.add({"uptime",
         format_duration(std::chrono::seconds{rd["uptime_s"].get<int64_t>()}),
         "clients", n(rd["clients"])});
  t.add({"memory", rd["used_memory"].get<std::string>(), "", ""});
  std::ostringstream out;
  t.print(out);
  // Skip the empty header line.
  auto text = out.str();
  std::cout << text.substr(text.find('\n') + 1);
}

void stats(session& s, const stats_flags& fl) {
  if (!fl.watch) {
    auto x = collect(s);
    if (s.json())
      print_json(x);
    else
      print(x);
    return;
  }
  auto every = parse_duration(fl.interval, "--interval");
  bool tty = isatty(STDOUT_FILENO) == 1;
  for (size_t i = 0; !interrupted() && (fl.iterations == 0
                                         || i < fl.iterations);
       ++i) {
    if (i > 0) {
      auto until = std::chrono::steady_clock::now() + every;
      while (!interrupted() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
      if (interrupted())
        break;
    }
    auto x = collect(s);
    if (s.json()) {
      print_json_line(x);
      continue;
    }
    if (tty)
      std::cout << "\x1b[H\x1b[2J";
    std::cout << "pulse stats  " << format_time(s.now_ms())
              << " UTC  (every " << fl.interval << ", Ctrl-C stops)\n\n";
    print(x);
    std::cout << std::flush;
  }
}

} // namespace

void add_stats_commands(CLI::App& app, registry& reg) {
  auto fl = std::make_shared<stats_flags>();
  auto st = app.add_subcommand(
    "stats", "totals of streams, sinks, dead letters, maps and pools, and "
             "Redis' own figures");
  st->add_flag("--watch,-w", fl->watch, "refresh until interrupted");
  st->add_option("--interval", fl->interval, "refresh period with --watch")
    ->capture_default_str();
  st->add_option("--iterations", fl->iterations,
                 "with --watch: exit after this many screens");
  reg.add(st, [fl](session& s) { stats(s, *fl); });
}

} // namespace pulse::cli
