// The dashboard's pool views, read straight from the pool's Redis keys
// (docs/protocol.md): jobs (count, first keys), delayed jobs (count, next
// due time), kept results, workers (name, node, jobs, queue depth); and its
// stop-job action (the pool's `stop` script, as `pool_node::stop_job`).

#include "pulse/runtime/dashboard.hpp"

#include <algorithm>
#include <map>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse {

namespace {

/// Most `SCAN` rounds (`COUNT 1000` each) per master spent counting one
/// pool's kept results per refresh; past it the count is a lower bound.
constexpr int max_result_scan_rounds = 20;

/// Most workers listed per pool.
constexpr size_t max_workers = 100;

std::string head(const std::string& x, char sep) {
  return x.substr(0, x.find(sep));
}

int64_t integer(const caf::expected<std::vector<resp::value>>& rs, size_t i) {
  if (!rs || i >= rs->size())
    return -1;
  return (*rs)[i].as_integer().value_or(-1);
}

/// The name/value pairs of a flat `HGETALL` reply.
std::map<std::string, std::string> pairs_of(const resp::value& v) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < v.elements.size(); i += 2)
    out[v.elements[i].str] = v.elements[i + 1].str;
  return out;
}

/// Counts `<prefix>result:*` keys: `SCAN` rounds up to the limit on every
/// master (`client::scan`). Returns the count and whether the scan finished.
std::pair<int64_t, bool> count_results(client& c, const std::string& prefix) {
  scan_query q;
  q.pattern = prefix + "result:*";
  q.max_rounds = max_result_scan_rounds;
  auto r = c.scan(std::move(q));
  if (!r)
    return {-1, false};
  return {static_cast<int64_t>(r->keys.size()), r->complete};
}

/// One pool's JSON object.
std::string pool_view(client& c, const std::string& pool) {
  auto p = pool_scripts::pool_prefix(pool);
  auto rs = c.batch({make_command("HLEN", p + "jobs"),
                     make_command("HSCAN", p + "jobs", "0", "COUNT", "20"),
                     make_command("ZCARD", p + "delayed"),
                     make_command("ZRANGE", p + "delayed", "0", "0",
                                  "WITHSCORES"),
                     make_command("TIME"),
                     make_command("HGETALL", p + "workers"),
                     make_command("HGETALL", p + "info")});
  std::string keys;
  int64_t next_due_in = -1;
  bool has_next = false;
  std::map<std::string, std::string> members;
  std::map<std::string, std::string> info;
  if (rs && rs->size() == 7) {
    auto& scan = (*rs)[1];
    if (scan.is_array() && scan.elements.size() == 2)
      for (size_t j = 0; j < scan.elements[1].elements.size(); j += 2) {
        if (!keys.empty())
          keys += ',';
        keys += dashboard_quote(scan.elements[1].elements[j].str);
      }
    auto& first = (*rs)[3];
    auto& now = (*rs)[4];
    if (first.elements.size() == 2 && now.elements.size() == 2) {
      auto due = resp::value::make_bulk(first.elements[1].str).as_integer();
      auto secs = now.elements[0].as_integer();
      auto micros = now.elements[1].as_integer();
      if (due && secs && micros) {
        has_next = true;
        next_due_in = *due - (*secs * 1000 + *micros / 1000);
      }
    }
    members = pairs_of((*rs)[5]);
    info = pairs_of((*rs)[6]);
  }
  // Workers: `workers` holds `<W> -> <created>|<node>`, `info` the names.
  std::vector<std::pair<std::string, std::string>> ws;
  std::vector<command> cmds;
  for (auto& [w, v] : members) {
    if (ws.size() == max_workers)
      break;
    ws.emplace_back(w, v.substr(v.find('|') == std::string::npos
                                  ? v.size()
                                  : v.find('|') + 1));
    cmds.push_back(make_command("SCARD", p + "owned:" + w));
    cmds.push_back(make_command("LLEN", p + "q:" + w));
  }
  caf::expected<std::vector<resp::value>> counts{std::vector<resp::value>{}};
  if (!cmds.empty())
    counts = c.batch(std::move(cmds));
  std::string workers;
  for (size_t i = 0; i < ws.size(); ++i) {
    auto& [w, node] = ws[i];
    if (i > 0)
      workers += ',';
    workers += "{\"id\":" + dashboard_quote(w) + ",\"name\":"
               + dashboard_quote(info["w:" + w]) + ",\"node\":"
               + dashboard_quote(node) + ",\"node_name\":"
               + dashboard_quote(head(info["n:" + node], '|'))
               + ",\"jobs\":" + std::to_string(integer(counts, 2 * i))
               + ",\"queue\":" + std::to_string(integer(counts, 2 * i + 1))
               + "}";
  }
  auto [results, complete] = count_results(c, p);
  return "{\"count\":" + std::to_string(integer(rs, 0)) + ",\"keys\":[" + keys
         + "],\"delayed\":" + std::to_string(integer(rs, 2))
         + ",\"next_due_in_ms\":"
         + (has_next ? std::to_string(next_due_in) : std::string{"null"})
         + ",\"results\":" + std::to_string(results)
         + ",\"results_complete\":" + (complete ? "true" : "false")
         + ",\"workers\":[" + workers + "]," + dashboard_dead_view(c, pool)
         + "}";
}

} // namespace

std::string dashboard_pools(runtime& rt, const metrics_snapshot& snap,
                            caf::timespan timeout) {
  std::vector<std::string> pools;
  for (auto& p : snap.pools)
    if (std::find(pools.begin(), pools.end(), p.pool) == pools.end())
      pools.push_back(p.pool);
  if (pools.empty())
    return {};
  client c{rt.system(), rt.gateway(), timeout};
  std::string out;
  for (auto& pool : pools) {
    if (!out.empty())
      out += ',';
    out += dashboard_quote(pool) + ':' + pool_view(c, pool);
  }
  return out;
}

caf::error stop_pool_job(runtime& rt, const std::string& pool,
                         const std::string& key, caf::timespan timeout) {
  if (auto err = validate_name(pool, "pulse pool"))
    return err;
  if (key.empty())
    return make_error(errc::invalid_argument, "stop: no job key");
  client c{rt.system(), rt.gateway(), timeout};
  auto r = c.eval(pool_scripts::stop(),
                  pool_scripts::script_keys(pool_scripts::pool_prefix(pool)),
                  {key});
  if (!r)
    return r.error();
  if (!r->is_array() || r->elements.empty())
    return make_error(errc::protocol_error,
                      "stop script: unexpected reply " + r->render());
  if (r->elements[0].str == "missing")
    return make_error(errc::not_found, "pool " + pool + " has no job " + key);
  log::info("dashboard stopped job pool={} key={}", pool, key);
  return caf::none;
}

} // namespace pulse
