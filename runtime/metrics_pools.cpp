// Pool series read from Redis at scrape time (the pool node actors do not
// keep them): delayed jobs, the earliest due time and dead jobs per pool.

#include "pulse/runtime/metrics.hpp"

#include <algorithm>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse {

caf::error add_pool_keys(runtime& rt, metrics_snapshot& x,
                         caf::timespan timeout) {
  std::vector<std::string> pools;
  for (auto& p : x.pools)
    if (std::find(pools.begin(), pools.end(), p.pool) == pools.end())
      pools.push_back(p.pool);
  if (pools.empty())
    return caf::none;
  std::vector<command> cmds{make_command("TIME")};
  for (auto& pool : pools) {
    auto key = pool_scripts::pool_prefix(pool) + "delayed";
    cmds.push_back(make_command("ZCARD", key));
    cmds.push_back(make_command("ZRANGE", key, "0", "0", "WITHSCORES"));
    cmds.push_back(
      make_command("ZCARD", pool_scripts::pool_prefix(pool) + "dead"));
  }
  client c{rt.system(), rt.gateway(), timeout};
  auto rs = c.batch(std::move(cmds));
  if (!rs)
    return rs.error();
  if (rs->size() != 1 + 3 * pools.size())
    return make_error(errc::protocol_error, "metrics: short pool key reply");
  auto& now = (*rs)[0];
  if (now.elements.size() != 2)
    return make_error(errc::protocol_error, "metrics: bad TIME reply");
  auto now_ms = now.elements[0].as_integer().value_or(0) * 1000
                + now.elements[1].as_integer().value_or(0) / 1000;
  for (size_t i = 0; i < pools.size(); ++i) {
    auto& card = (*rs)[1 + 3 * i];
    auto& first = (*rs)[2 + 3 * i];
    auto& dead = (*rs)[3 + 3 * i];
    if (card.is_error() || first.is_error() || dead.is_error())
      continue; // a key of another type: leave the pool out
    metrics_snapshot::pool_keys_entry e;
    e.pool = pools[i];
    e.delayed = card.integer;
    e.dead = dead.integer;
    if (first.elements.size() == 2) {
      if (auto due = resp::value::make_bulk(first.elements[1].str)
                       .as_integer()) {
        e.has_next = true;
        e.next_due_in_ms = *due - now_ms;
      }
    }
    x.pool_keys.push_back(std::move(e));
  }
  return caf::none;
}

} // namespace pulse
