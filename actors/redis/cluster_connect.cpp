// Connecting in Redis Cluster mode (`connect_redis` with `cluster` on):
// the first reachable node of the known topology and the seeds, the node
// lost last tried last; the nodes `CLUSTER SLOTS` names are learned for
// the next connect. Used by the pub/sub connection (any node receives every
// `PUBLISH`: the cluster bus broadcasts it) and by `wait_for_redis`.

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/sentinel.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::detail {

namespace {

using cluster_clock = std::chrono::steady_clock;

/// Each node gets at least this long, even when many are left to try.
constexpr auto min_node_budget = std::chrono::milliseconds{250};

// The host part of `host:port` (brackets of an IPv6 host removed).
std::string cluster_host_of(const std::string& addr) {
  auto host = addr.substr(0, addr.rfind(':'));
  if (host.size() >= 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  return host;
}

} // namespace

std::vector<std::string>
cluster_candidates(const std::vector<std::string>& seeds,
                   const std::vector<std::string>& known,
                   const std::string& last) {
  std::vector<std::string> out;
  auto add = [&](const std::string& x) {
    if (!x.empty() && x != last
        && std::find(out.begin(), out.end(), x) == out.end())
      out.push_back(x);
  };
  for (auto& x : known)
    add(x);
  for (auto& x : seeds)
    add(x);
  if (!last.empty())
    out.push_back(last);
  return out;
}

caf::expected<connected_socket>
connect_via_cluster(const redis_options& opts,
                    const std::vector<std::string>& known,
                    const std::string& last) {
  auto seeds = cluster::seeds(opts);
  if (!seeds)
    return seeds.error();
  std::vector<std::string> seed_addrs;
  for (auto& s : *seeds)
    seed_addrs.push_back(s.text());
  auto cands = cluster_candidates(seed_addrs, known, last);
  auto until = cluster_clock::now() + opts.connect_timeout;
  std::string failures;
  for (size_t i = 0; i < cands.size(); ++i) {
    auto now = cluster_clock::now();
    if (now >= until && i > 0)
      break;
    auto left = until - now;
    auto share = left / static_cast<int64_t>(cands.size() - i);
    auto node_until = std::min<cluster_clock::time_point>(
      until, now + std::max<cluster_clock::duration>(share, min_node_budget));
    auto& addr = cands[i];
    auto node = cluster::node_options(opts, addr);
    auto c = connect_node(node, false, node_until);
    if (!c) {
      auto code = code_of(c.error());
      // Credentials and TLS settings are the same for every node.
      if (code == errc::auth_failed || code == errc::invalid_config
          || code == errc::tls_failed)
        return c.error();
      failures += (failures.empty() ? "" : "; ") + error_text(c.error());
      continue;
    }
    // Learn the topology for the next connect (masters, then replicas).
    resp::decoder dec;
    auto slots = sync_call(*c->conn, dec, {"CLUSTER", "SLOTS"}, node_until);
    if (!slots) {
      failures += (failures.empty() ? "" : "; ") + addr
                  + ": CLUSTER SLOTS failed: " + error_text(slots.error());
      continue;
    }
    if (auto t = cluster::parse_slots(*slots, cluster_host_of(addr));
        t && t->covered() > 0)
      c->cluster_nodes = t->nodes();
    if (i > 0)
      log::info("redis cluster connect moved to another node endpoint={} "
                "skipped={} error=\"{}\"",
                addr, i, failures);
    return c;
  }
  return make_error(errc::connect_failed,
                    "cluster: no node reachable within "
                    "pulse.redis.connect-timeout (tried "
                      + std::to_string(cands.size()) + "): " + failures);
}

} // namespace pulse::detail
