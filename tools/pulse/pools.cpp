/// `pulse pools`, `pulse pool <p>`, `pulse jobs <p>`, `pulse job <p> <key>`
/// and `pulse job stop <p> <key>`: worker pools as `actors/pool` writes them
/// (our own layout, docs/protocol.md: every key under `pulse:pool:{P}:`).
/// Reads `alive` (leases), `info` (names), `workers`, `jobs`, `payloads`, `owned:<W>`,
/// `q:<W>`, `queued`, `orphans`, `shutdown`; `job stop` runs the pool's
/// `stop` script, so the owner stops the job like after `pool_node::stop_job`.

#include <iostream>
#include <map>
#include <set>

#include <CLI/CLI.hpp>

#include "output.hpp"
#include "pool_keys.hpp"
#include "session.hpp"
#include "pulse/actors/pool/routing.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse::cli {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

struct pool_flags {
  std::string pool;
  std::string worker;
  std::string key;
};

/// Splits `s` at `sep`.
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t from = 0;
  for (;;) {
    auto at = s.find(sep, from);
    out.push_back(s.substr(from, at - from));
    if (at == std::string::npos)
      return out;
    from = at + 1;
  }
}

/// The pool's key prefix (`checked_pool_prefix`, pool_keys.hpp).
std::string checked_prefix(session& s, const std::string& name) {
  return checked_pool_prefix(s, name);
}

/// "in 12.0s" for a future lease end, "expired 3.0s ago" otherwise.
std::string lease_text(int64_t end_ms, int64_t now) {
  return end_ms >= now ? "ends in " + format_duration(milliseconds{end_ms - now})
                       : "expired " + format_duration(milliseconds{now - end_ms})
                           + " ago";
}

/// A job record: `owner|epoch|state|node|dispatch_id`.
struct job_record {
  std::string key;
  std::string owner;
  std::string epoch;
  std::string state; // pending, running
  std::string node;
};

job_record parse_job(const std::string& key, const std::string& rec) {
  auto e = pool_routing::parse_job_entry(rec);
  if (!e)
    return {key, "", "", "malformed", ""};
  return {key, e->owner, e->epoch,
          e->state == "r"   ? "running"
          : e->state == "p" ? "pending"
                            : e->state,
          e->node};
}

json to_json(const job_record& j) {
  return {{"key", j.key}, {"worker", j.owner}, {"epoch", to_int(j.epoch)},
          {"state", j.state}, {"dispatcher_node", j.node}};
}

// -- pulse pools --------------------------------------------------------------

void list_pools(session& s) {
  std::set<std::string> names;
  static constexpr std::string_view head = "pulse:pool:{";
  for (auto& k : s.scan("pulse:pool:{*}:*")) {
    auto end = k.find("}:", head.size());
    if (end != std::string::npos)
      names.insert(k.substr(head.size(), end - head.size()));
  }
  auto now = s.now_ms();
  json out = json::array();
  table t{{"POOL", "NODES", "WORKERS", "JOBS", "PENDING", "SHUTDOWN"}};
  for (auto& name : names) {
    auto p = pool_scripts::pool_prefix(name);
    auto rs = s.batch({make_command("ZRANGEBYSCORE", p + "alive",
                                    std::to_string(now), "+inf"),
                       make_command("HLEN", p + "workers"),
                       make_command("HLEN", p + "jobs"),
                       make_command("GET", p + "queued"),
                       make_command("EXISTS", p + "shutdown")});
    int64_t nodes = 0;
    for (auto& m : rs[0].elements)
      nodes += m.str.rfind("n:", 0) == 0 ? 1 : 0;
    auto pending = to_int(rs[3].str);
    bool shutdown = rs[4].integer == 1;
    out.push_back({{"name", name}, {"nodes", nodes},
                   {"workers", rs[1].integer}, {"jobs", rs[2].integer},
                   {"pending", pending}, {"shutdown", shutdown}});
    t.add({name, std::to_string(nodes), std::to_string(rs[1].integer),
           std::to_string(rs[2].integer), std::to_string(pending),
           shutdown ? "yes" : "no"});
  }
  if (s.json())
    print_json(out);
  else
    t.print(std::cout);
}

// -- pulse pool <p> -----------------------------------------------------------

void show_pool(session& s, const pool_flags& fl) {
  auto p = checked_prefix(s, fl.pool);
  auto now = s.now_ms();
  auto rs = s.batch({make_command("ZRANGE", p + "alive", "0", "-1",
                                  "WITHSCORES"),
                     make_command("HGETALL", p + "workers"),
                     make_command("HVALS", p + "jobs"),
                     make_command("GET", p + "queued"),
                     make_command("SCARD", p + "owned:"),
                     make_command("SCARD", p + "orphans"),
                     make_command("EXISTS", p + "shutdown"),
                     make_command("GET", p + "mrev"),
                     make_command("HGETALL", p + "info")});
  // Human-readable names: `n:<N>` -> name|host|pid|version, `w:<W>` -> name.
  auto info = pairs(rs[8]);
  auto node_info = [&](const std::string& id) {
    auto f = split(info["n:" + id].str, '|');
    f.resize(4);
    return f;
  };
  std::map<std::string, int64_t> leases; // "n:<N>" / "w:<W>" -> end ms
  auto& alive = rs[0].elements;
  for (size_t i = 0; i + 1 < alive.size(); i += 2)
    leases[alive[i].str] = to_int(alive[i + 1].str);
  int64_t running = 0;
  int64_t pending = 0;
  for (auto& v : rs[2].elements) {
    auto state = parse_job("", v.str).state;
    running += state == "running" ? 1 : 0;
    pending += state == "pending" ? 1 : 0;
  }
  // Workers: membership, with their job and queue counts.
  auto members = pairs(rs[1]);
  std::vector<command> cmds;
  for (auto& [w, v] : members) {
    cmds.push_back(make_command("SCARD", p + "owned:" + w));
    cmds.push_back(make_command("LLEN", p + "q:" + w));
  }
  auto counts = s.batch(std::move(cmds));
  std::map<std::string, int64_t> workers_of;
  json workers = json::array();
  table wt{{"WORKER", "NAME", "NODE", "AGE", "JOBS", "QUEUE", "LEASE"}};
  size_t i = 0;
  for (auto& [w, v] : members) {
    auto f = split(v.str, '|');
    f.resize(2);
    auto created_ms = to_int(f[0]) / 1'000'000;
    auto jobs = counts[2 * i].integer;
    auto queue = counts[2 * i + 1].integer;
    ++i;
    ++workers_of[f[1]];
    auto lease = leases.count("w:" + w) ? leases["w:" + w] : int64_t{-1};
    auto name = info["w:" + w].str;
    auto node_name = node_info(f[1])[0];
    workers.push_back({{"id", w}, {"name", name}, {"node", f[1]},
                       {"node_name", node_name}, {"created_ms", created_ms},
                       {"jobs", jobs}, {"queue", queue},
                       {"lease_end_ms", lease}});
    wt.add({w, name.empty() ? "-" : name,
            node_name.empty() ? f[1] : node_name,
            format_duration(milliseconds{now - created_ms}),
            std::to_string(jobs), std::to_string(queue),
            lease < 0 ? "-" : lease_text(lease, now)});
  }
  json nodes = json::array();
  table nt{{"NODE", "NAME", "HOST", "PID", "VERSION", "WORKERS", "LEASE"}};
  for (auto& [m, end] : leases) {
    if (m.rfind("n:", 0) != 0)
      continue;
    auto id = m.substr(2);
    auto ni = node_info(id);
    nodes.push_back({{"id", id}, {"name", ni[0]}, {"host", ni[1]},
                     {"pid", to_int(ni[2], -1)}, {"version", ni[3]},
                     {"workers", workers_of[id]}, {"lease_end_ms", end},
                     {"alive", end >= now}});
    auto dash = [](const std::string& x) { return x.empty() ? "-" : x; };
    nt.add({id, dash(ni[0]), dash(ni[1]), dash(ni[2]), dash(ni[3]),
            std::to_string(workers_of[id]), lease_text(end, now)});
  }
  json totals{{"nodes", nodes.size()},
              {"workers", members.size()},
              {"jobs", rs[2].elements.size()},
              {"running", running},
              {"pending", pending},
              {"queued_counter", to_int(rs[3].str)},
              {"waiting_for_worker", rs[4].integer},
              {"orphaned_workers", rs[5].integer},
              {"shutdown", rs[6].integer == 1},
              {"membership_rev", to_int(rs[7].str)}};
  if (s.json()) {
    print_json({{"name", fl.pool}, {"nodes", nodes}, {"workers", workers},
                {"totals", totals}});
    return;
  }
  std::cout << "pool " << fl.pool << "  nodes " << nodes.size()
            << "  workers " << members.size() << "  jobs "
            << rs[2].elements.size() << " (running " << running
            << ", pending " << pending << ", waiting for a worker "
            << rs[4].integer << ")"
            << (rs[6].integer == 1 ? "  SHUTTING DOWN" : "") << "\n\n";
  if (nt.empty())
    std::cout << "no nodes\n";
  else
    nt.print(std::cout);
  std::cout << '\n';
  if (wt.empty())
    std::cout << "no workers\n";
  else
    wt.print(std::cout);
}

// -- pulse jobs <p> -----------------------------------------------------------

void list_jobs(session& s, const pool_flags& fl) {
  auto p = checked_prefix(s, fl.pool);
  if (!fl.worker.empty()
      && s("HEXISTS", p + "workers", fl.worker).integer == 0
      && s("EXISTS", p + "owned:" + fl.worker).integer == 0)
    fail("pool \"" + fl.pool + "\" has no worker \"" + fl.worker + "\"");
  std::vector<job_record> jobs;
  std::string cursor = "0";
  do {
    auto r = s("HSCAN", p + "jobs", cursor, "COUNT", "1000");
    cursor = r.elements[0].str;
    auto& kv = r.elements[1].elements;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      auto j = parse_job(kv[i].str, kv[i + 1].str);
      if (fl.worker.empty() || j.owner == fl.worker)
        jobs.push_back(std::move(j));
    }
  } while (cursor != "0");
  std::sort(jobs.begin(), jobs.end(),
            [](auto& a, auto& b) { return a.key < b.key; });
  auto info = pairs(s("HGETALL", p + "info"));
  if (s.json()) {
    json out = json::array();
    for (auto& j : jobs) {
      out.push_back(to_json(j));
      out.back()["worker_name"] = info["w:" + j.owner].str;
    }
    print_json(out);
    return;
  }
  table t{{"KEY", "STATE", "WORKER", "WORKER NAME", "EPOCH"}};
  for (auto& j : jobs) {
    auto name = info["w:" + j.owner].str;
    t.add({printable(j.key, 60), j.state, j.owner.empty() ? "-" : j.owner,
           name.empty() ? "-" : name, j.epoch});
  }
  t.print(std::cout);
}

// -- pulse job <p> <key>, pulse job stop <p> <key> ----------------------------

void show_job(session& s, const pool_flags& fl) {
  auto p = checked_prefix(s, fl.pool);
  auto rs = s.batch({make_command("HGET", p + "jobs", fl.key),
                     make_command("HGET", p + "payloads", fl.key)});
  auto name = [&](const std::string& field) {
    auto r = s("HGET", p + "info", field);
    auto f = split(r.str, '|');
    return f[0];
  };
  // A job may also be delayed (due later) and have a kept outcome of an
  // earlier run; a finished job has only the outcome.
  auto delayed = read_delayed(s, p, fl.key);
  auto result = read_result(s, p, fl.key);
  auto now = delayed ? s.now_ms() : 0;
  if (rs[0].is_nil() && !delayed && !result)
    fail("pool \"" + fl.pool + "\" has no job \"" + fl.key + "\"");
  if (rs[0].is_nil()) {
    // Not running or pending: finished (outcome kept) and/or delayed.
    if (s.json()) {
      json x{{"key", fl.key}, {"state", delayed ? "delayed" : "finished"},
             {"delayed", delayed ? to_json(*delayed, now) : json{}},
             {"result", result ? to_json(*result) : json{}}};
      print_json(x);
      return;
    }
    table t{{"JOB", printable(fl.key)}};
    t.add({"state", delayed ? "delayed" : "finished"});
    if (delayed) {
      t.add({"due", format_time(delayed->due_ms) + "  ("
                      + due_text(delayed->due_ms, now) + ")"});
      t.add({"payload", std::to_string(delayed->payload_bytes) + " bytes"});
    }
    if (result)
      t.add({result->ok ? "result" : "error",
             printable(result->text, 200) + (result->ok ? "" : "  (failed)")});
    t.print(std::cout);
    return;
  }
  auto j = parse_job(fl.key, rs[0].str);
  auto worker_name = j.owner.empty() ? std::string{} : name("w:" + j.owner);
  auto node_name = name("n:" + j.node);
  if (s.json()) {
    auto x = to_json(j);
    x["worker_name"] = worker_name;
    x["dispatcher_node_name"] = node_name;
    x["payload"] = rs[1].str;
    x["delayed"] = delayed ? to_json(*delayed, now) : json{};
    x["result"] = result ? to_json(*result) : json{};
    print_json(x);
    return;
  }
  table t{{"JOB", printable(j.key)}};
  t.add({"state", j.state});
  t.add({"worker", j.owner.empty()
                     ? "- (waiting for a worker)"
                     : j.owner + (worker_name.empty()
                                    ? std::string{}
                                    : "  (" + worker_name + ")")});
  t.add({"epoch", j.epoch});
  t.add({"dispatched by",
         j.node + (node_name.empty() ? std::string{} : "  (" + node_name + ")")});
  t.add({"payload", std::to_string(rs[1].str.size()) + " bytes: "
                      + printable(rs[1].str, 200)});
  if (delayed)
    t.add({"delayed again", format_time(delayed->due_ms) + "  ("
                              + due_text(delayed->due_ms, now) + ")"});
  if (result)
    t.add({"last outcome", std::string{result->ok ? "done: " : "failed: "}
                             + printable(result->text, 200)});
  t.print(std::cout);
}

void stop_job(session& s, const pool_flags& fl) {
  auto p = checked_prefix(s, fl.pool);
  auto r = s.eval(pool_scripts::stop(), pool_scripts::script_keys(p), {fl.key});
  if (!r.is_array() || r.elements.empty())
    fail("stop script: unexpected reply " + r.render());
  if (r.elements[0].str == "missing")
    fail("pool \"" + fl.pool + "\" has no job \"" + fl.key + "\"");
  if (s.json())
    print_json({{"stopped", fl.key}});
  else
    std::cout << "stopped " << fl.key << '\n';
}

} // namespace

void add_pool_commands(CLI::App& app, registry& reg) {
  auto ls = app.add_subcommand("pools", "list worker pools");
  reg.add(ls, list_pools);

  auto pf = std::make_shared<pool_flags>();
  auto pl = app.add_subcommand(
    "pool", "show a pool: nodes, workers with jobs and queue depth, totals");
  pl->add_option("pool", pf->pool, "pool name")->required();
  reg.add(pl, [pf](session& s) { show_pool(s, *pf); });

  auto jf = std::make_shared<pool_flags>();
  auto js = app.add_subcommand("jobs", "list a pool's jobs");
  js->add_option("pool", jf->pool, "pool name")->required();
  js->add_option("--worker", jf->worker, "only the jobs of this worker");
  reg.add(js, [jf](session& s) { list_jobs(s, *jf); });

  auto of = std::make_shared<pool_flags>();
  auto jb = app.add_subcommand("job", "show one job; `job stop` stops it");
  jb->add_option("pool", of->pool, "pool name");
  jb->add_option("key", of->key, "job key");
  jb->require_subcommand(0, 1);
  reg.add(jb, [of](session& s) {
    if (of->pool.empty() || of->key.empty())
      fail("job: usage: pulse job <pool> <key>");
    show_job(s, *of);
  });

  auto sf = std::make_shared<pool_flags>();
  auto sp = jb->add_subcommand(
    "stop", "stop a job wherever it runs and forget it (the pool's stop "
            "script)");
  sp->add_option("pool", sf->pool, "pool name")->required();
  sp->add_option("key", sf->key, "job key")->required();
  reg.add(sp, [sf](session& s) { stop_job(s, *sf); });
}

} // namespace pulse::cli
