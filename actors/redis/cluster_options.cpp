// Cluster mode options: the seeds, one node's options, the checks. No I/O,
// so the config fuzz target links it (see tests/fuzz/CMakeLists.txt).

#include <cstdlib>

#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::cluster {

caf::expected<std::vector<detail::host_port>>
seeds(const redis_options& opts) {
  std::vector<detail::host_port> result;
  if (!opts.host.empty())
    result.push_back({opts.host, opts.port});
  for (auto& x : opts.cluster_nodes) {
    auto bad = [&](const std::string& why) {
      return make_error(errc::invalid_config,
                        "pulse.redis.cluster-nodes: \"" + x + "\" " + why);
    };
    if (x.find_first_of("/@?#") != std::string::npos)
      return bad("is not host:port");
    auto url = parse_redis_url("redis://" + x);
    if (!url)
      return bad("is not host:port");
    auto suffix = ":" + std::to_string(url->port);
    if (x.size() < suffix.size()
        || x.compare(x.size() - suffix.size(), suffix.size(), suffix) != 0)
      return bad("has no port (write host:port, e.g. 10.0.0.1:7000)");
    result.push_back({url->host, url->port});
  }
  return result;
}

redis_options node_options(const redis_options& opts, const std::string& addr) {
  auto result = opts;
  result.cluster = false;
  result.cluster_nodes.clear();
  result.url.clear();
  auto colon = addr.rfind(':');
  auto host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  result.host = host;
  result.port = static_cast<uint16_t>(std::atoi(addr.c_str() + colon + 1));
  return result;
}

} // namespace pulse::cluster

namespace pulse::detail {

caf::error check_cluster_options(const redis_options& opts) {
  if (!opts.cluster) {
    if (!opts.cluster_nodes.empty())
      return make_error(errc::invalid_config,
                        "pulse.redis.cluster-nodes needs pulse.redis.cluster "
                        "= true");
    return caf::none;
  }
  if (opts.use_sentinel())
    return make_error(errc::invalid_config,
                      "pulse.redis.cluster and pulse.redis.sentinels exclude "
                      "each other");
  if (!opts.unix_socket.empty())
    return make_error(errc::invalid_config,
                      "pulse.redis.cluster needs TCP seeds, not a unix-socket");
  if (opts.db != 0)
    return make_error(errc::invalid_config,
                      "pulse.redis.db must be 0 with pulse.redis.cluster "
                      "(Redis Cluster has only database 0)");
  auto s = cluster::seeds(opts);
  if (!s)
    return s.error();
  if (s->empty())
    return make_error(errc::invalid_config,
                      "pulse.redis.cluster needs a seed: pulse.redis.host "
                      "(or url) or pulse.redis.cluster-nodes");
  return caf::none;
}

} // namespace pulse::detail
