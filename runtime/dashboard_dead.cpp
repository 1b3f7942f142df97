// The dashboard's view of each pool's dead set (count and the oldest jobs
// with their last error) and its redrive and purge actions, through
// `actors/pool/dead_set.hpp` like `pool_node` and `pulse dead-jobs`.

#include "pulse/runtime/dashboard.hpp"

#include "pulse/actors/pool/dead_set.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/runtime/runtime.hpp"

namespace pulse {

std::string dashboard_dead_view(client& c, const std::string& pool) {
  auto p = pool_scripts::pool_prefix(pool);
  auto n = pool_dead_set::count(c, p);
  if (!n)
    return "\"dead\":-1,\"dead_jobs\":[]";
  std::string jobs;
  if (*n > 0) {
    auto xs = pool_dead_set::list(c, p, dashboard_dead_shown);
    if (xs)
      for (auto& d : *xs) {
        if (!jobs.empty())
          jobs += ',';
        jobs += "{\"key\":" + dashboard_quote(d.key)
                + ",\"attempts\":" + std::to_string(d.attempts)
                + ",\"died_ms\":" + std::to_string(d.died_at) + ",\"error\":"
                + dashboard_quote(d.failures.empty() ? std::string{}
                                                     : d.failures.back().error)
                + "}";
      }
  }
  return "\"dead\":" + std::to_string(*n) + ",\"dead_jobs\":[" + jobs + "]";
}

caf::expected<pool_dead_set::outcome>
steer_dead_jobs(runtime& rt, const std::string& pool, const std::string& key,
                bool purge, caf::timespan timeout) {
  if (auto err = validate_name(pool, "pulse pool"))
    return err;
  client c{rt.system(), rt.gateway(), timeout};
  std::vector<std::string> keys;
  if (!key.empty())
    keys.push_back(key);
  auto p = pool_scripts::pool_prefix(pool);
  auto r = purge ? pool_dead_set::purge(c, p, keys)
                 : pool_dead_set::redrive(c, p, keys);
  if (!r)
    return r.error();
  log::info("dashboard {} dead jobs pool={} key={} jobs={} left={}",
            purge ? "purged" : "redrove", pool, key.empty() ? "*" : key,
            r->done, r->left);
  return *r;
}

} // namespace pulse
