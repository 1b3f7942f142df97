/// `pulse stats [--watch]`: one screen of totals (streams, entries, sinks,
/// pending, lag, dead letters; maps; pools, nodes, workers, jobs) and Redis'
/// own figures (`INFO` of every master: sums, and each master's in cluster
/// mode), refreshed with `--watch`. Reads with `SCAN`, `XINFO
/// STREAM|GROUPS`, `ZRANGEBYSCORE`, `HLEN`, `GET`, `INFO` and, in cluster
/// mode, `CLUSTER NODES` (each master's own address).

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <iterator>
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

/// Bytes in Redis' `used_memory_human` style (`2.13M`).
std::string human_bytes(int64_t n) {
  static constexpr const char* units[] = {"K", "M", "G", "T"};
  if (n < 1024)
    return std::to_string(n) + "B";
  double x = static_cast<double>(n) / 1024.0;
  size_t u = 0;
  while (x >= 1024.0 && u + 1 < std::size(units)) {
    x /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%s", x, units[u]);
  return buf;
}

/// The `host:port` of the `myself` line of a `CLUSTER NODES` reply, or "".
std::string myself_addr(const std::string& nodes) {
  size_t pos = 0;
  while (pos < nodes.size()) {
    auto end = nodes.find('\n', pos);
    if (end == std::string::npos)
      end = nodes.size();
    auto line = nodes.substr(pos, end - pos);
    pos = end + 1;
    // <id> <ip:port@cport[,hostname]> <flags> ...
    auto a = line.find(' ');
    auto b = a == std::string::npos ? a : line.find(' ', a + 1);
    if (b == std::string::npos)
      continue;
    auto flags_end = line.find(' ', b + 1);
    auto flags = line.substr(b + 1, flags_end - b - 1);
    if (flags.find("myself") == std::string::npos)
      continue;
    auto addr = line.substr(a + 1, b - a - 1);
    return addr.substr(0, addr.find('@'));
  }
  return "";
}

/// Redis' own figures: one node's `INFO`, or in cluster mode the sums over
/// every master (`clients`, `used_memory`, `keys`), the oldest version and
/// shortest uptime, and `masters` with each one's figures.
json redis_figures(session& s) {
  auto infos = s.redis().each_master(make_command("INFO"));
  if (!infos)
    throw cli_error("INFO on every master: " + render(infos.error()));
  std::vector<std::string> addrs;
  if (s.opts().redis.cluster) {
    auto nodes = s.redis().each_master(make_command("CLUSTER", "NODES"));
    if (nodes && nodes->size() == infos->size())
      for (auto& n : *nodes)
        addrs.push_back(n.is_error() ? "" : myself_addr(n.str));
  }
  auto keys_of = [](const std::string& info) {
    // db0:keys=3,expires=0,avg_ttl=0
    auto db = info_field(info, "db0");
    auto at = db.find("keys=");
    return at == std::string::npos ? int64_t{0}
                                   : to_int(db.substr(at + 5,
                                                      db.find(',', at) - at
                                                        - 5));
  };
  json masters = json::array();
  int64_t clients = 0, memory = 0, keys = 0, uptime = -1;
  std::string version;
  for (size_t i = 0; i < infos->size(); ++i) {
    auto& r = (*infos)[i];
    if (r.is_error())
      throw cli_error("INFO: " + r.str);
    auto& info = r.str;
    auto m = json{
      {"endpoint", i < addrs.size() ? addrs[i] : std::string{}},
      {"version", info_field(info, "redis_version")},
      {"uptime_s", to_int(info_field(info, "uptime_in_seconds"))},
      {"clients", to_int(info_field(info, "connected_clients"))},
      {"used_memory", info_field(info, "used_memory_human")},
      {"used_memory_bytes", to_int(info_field(info, "used_memory"))},
      {"keys", keys_of(info)}};
    clients += m["clients"].get<int64_t>();
    memory += m["used_memory_bytes"].get<int64_t>();
    keys += m["keys"].get<int64_t>();
    auto up = m["uptime_s"].get<int64_t>();
    uptime = uptime < 0 ? up : std::min(uptime, up);
    auto v = m["version"].get<std::string>();
    if (version.empty() || v < version)
      version = v;
    masters.push_back(std::move(m));
  }
  if (!s.opts().redis.cluster && masters.size() == 1) {
    auto& m = masters[0];
    return {{"version", m["version"]},
            {"uptime_s", m["uptime_s"]},
            {"clients", m["clients"]},
            {"used_memory", m["used_memory"]},
            {"endpoint", s.opts().redis.endpoint()}};
  }
  return {{"version", version},
          {"uptime_s", std::max<int64_t>(uptime, 0)},
          {"clients", clients},
          {"used_memory", human_bytes(memory)},
          {"used_memory_bytes", memory},
          {"keys", keys},
          {"endpoint", s.opts().redis.endpoint()},
          {"masters", std::move(masters)}};
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
  return {{"streams", streams},
          {"maps", {{"maps", maps}}},
          {"pools",
           {{"pools", pools.size()},
            {"nodes", nodes},
            {"workers", workers},
            {"jobs", jobs},
            {"pending", pending}}},
          {"redis", redis_figures(s)}};
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
  if (rd.contains("masters")) {
    // Cluster mode: sums above, then each master.
    t.add({"memory", rd["used_memory"].get<std::string>(), "keys",
           n(rd["keys"])});
    t.add({"masters", n(rd["masters"].size()), "", ""});
    for (auto& m : rd["masters"]) {
      t.add({"master", m["endpoint"].get<std::string>(), "clients",
             n(m["clients"])});
      t.add({"  memory", m["used_memory"].get<std::string>(), "keys",
             n(m["keys"])});
    }
  } else {
    t.add({"memory", rd["used_memory"].get<std::string>(), "", ""});
  }
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
