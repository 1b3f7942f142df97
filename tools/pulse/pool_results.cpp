/// `pulse delayed <p>` and `pulse result <p> <key>`: a pool's delayed jobs
/// (`delayed` sorted set scored by due time in Unix ms, `delayed_payloads`
/// hash) and the outcomes it keeps for finished jobs (`result:<key>` for
/// `[pulse.pool] result-retention`), read straight from Redis.

#include <iostream>

#include <CLI/CLI.hpp>

#include "output.hpp"
#include "pool_keys.hpp"
#include "session.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse::cli {

using nlohmann::json;
using std::chrono::milliseconds;

std::string checked_pool_prefix(session& s, const std::string& name) {
  if (auto err = validate_name(name, "pulse pool"))
    fail("not a valid pool name \"" + name + "\"");
  auto p = pool_scripts::pool_prefix(name);
  if (s("EXISTS", p + "alive", p + "workers", p + "jobs", p + "mrev",
        p + "delayed", p + "dead")
        .integer
      == 0)
    fail("unknown pool \"" + name + "\" (no keys " + p + "*)");
  return p;
}

std::optional<delayed_job> read_delayed(session& s, const std::string& prefix,
                                        const std::string& key) {
  auto rs = s.batch({make_command("ZSCORE", prefix + "delayed", key),
                     make_command("HSTRLEN", prefix + "delayed_payloads", key)});
  if (rs[0].is_nil() || rs[0].is_error())
    return std::nullopt;
  return delayed_job{key, to_int(rs[0].str), rs[1].integer};
}

std::optional<kept_result> read_result(session& s, const std::string& prefix,
                                       const std::string& key) {
  auto rs = s.batch({make_command("GET", prefix + "result:" + key),
                     make_command("PTTL", prefix + "result:" + key)});
  if (rs[0].is_nil() || rs[0].is_error() || rs[0].str.empty())
    return std::nullopt;
  return kept_result{rs[0].str[0] == '1', rs[0].str.substr(1), rs[1].integer};
}

json to_json(const delayed_job& d, int64_t now_ms) {
  return {{"key", d.key}, {"due_ms", d.due_ms},
          {"due_in_ms", d.due_ms - now_ms},
          {"payload_bytes", d.payload_bytes}};
}

json to_json(const kept_result& r) {
  return {{"ok", r.ok}, {"result", r.text},
          {"expires_in_ms", r.expires_in_ms}};
}

std::string due_text(int64_t due_ms, int64_t now_ms) {
  return due_ms >= now_ms
           ? "in " + format_duration(milliseconds{due_ms - now_ms})
           : "overdue " + format_duration(milliseconds{now_ms - due_ms});
}

namespace {

struct delayed_flags {
  std::string pool;
  std::string key;
  size_t count = 100;
};

// -- pulse delayed <p> --------------------------------------------------------

void list_delayed(session& s, const delayed_flags& fl) {
  auto p = checked_pool_prefix(s, fl.pool);
  auto now = s.now_ms();
  auto stop = fl.count == 0 ? std::string{"-1"} : std::to_string(fl.count - 1);
  auto rs = s.batch({make_command("ZCARD", p + "delayed"),
                     make_command("ZRANGE", p + "delayed", "0", stop,
                                  "WITHSCORES")});
  auto total = rs[0].integer;
  std::vector<delayed_job> jobs;
  std::vector<command> sizes;
  auto& xs = rs[1].elements;
  for (size_t i = 0; i + 1 < xs.size(); i += 2) {
    jobs.push_back({xs[i].str, to_int(xs[i + 1].str), 0});
    sizes.push_back(make_command("HSTRLEN", p + "delayed_payloads", xs[i].str));
  }
  auto lens = s.batch(std::move(sizes));
  for (size_t i = 0; i < jobs.size() && i < lens.size(); ++i)
    jobs[i].payload_bytes = lens[i].integer;
  if (s.json()) {
    json out = json::array();
    for (auto& d : jobs)
      out.push_back(to_json(d, now));
    print_json({{"pool", fl.pool}, {"total", total}, {"jobs", out}});
    return;
  }
  std::cout << "pool " << fl.pool << "  delayed jobs " << total;
  if (static_cast<size_t>(total) > jobs.size())
    std::cout << " (showing the first " << jobs.size() << ", --count)";
  std::cout << "\n\n";
  if (jobs.empty()) {
    std::cout << "no delayed jobs\n";
    return;
  }
  table t{{"KEY", "DUE", "DUE IN", "PAYLOAD"}};
  for (auto& d : jobs)
    t.add({printable(d.key, 60), format_time(d.due_ms), due_text(d.due_ms, now),
           std::to_string(d.payload_bytes) + " B"});
  t.print(std::cout);
}

// -- pulse result <p> <key> ---------------------------------------------------

void show_result(session& s, const delayed_flags& fl) {
  auto p = checked_pool_prefix(s, fl.pool);
  auto r = read_result(s, p, fl.key);
  if (!r)
    fail("pool \"" + fl.pool + "\" keeps no result of job \"" + fl.key
         + "\" (never finished, or older than [pulse.pool] result-retention)");
  if (s.json()) {
    auto x = to_json(*r);
    x["key"] = fl.key;
    print_json(x);
    return;
  }
  table t{{"JOB", printable(fl.key)}};
  t.add({"outcome", r->ok ? "done" : "failed"});
  t.add({r->ok ? "result" : "error", std::to_string(r->text.size())
                                       + " bytes: " + printable(r->text, 200)});
  t.add({"kept for", r->expires_in_ms < 0
                       ? std::string{"ever"}
                       : format_duration(milliseconds{r->expires_in_ms})});
  t.print(std::cout);
}

} // namespace

void add_pool_result_commands(CLI::App& app, registry& reg) {
  auto df = std::make_shared<delayed_flags>();
  auto dl = app.add_subcommand(
    "delayed", "list a pool's delayed jobs: key, due time, payload size");
  dl->add_option("pool", df->pool, "pool name")->required();
  dl->add_option("--count", df->count,
                 "at most this many, earliest first (0: all; default 100)");
  reg.add(dl, [df](session& s) { list_delayed(s, *df); });

  auto rf = std::make_shared<delayed_flags>();
  auto rs = app.add_subcommand(
    "result", "show the kept outcome of a finished job (result or error)");
  rs->add_option("pool", rf->pool, "pool name")->required();
  rs->add_option("key", rf->key, "job key")->required();
  reg.add(rs, [rf](session& s) { show_result(s, *rf); });
}

} // namespace pulse::cli
