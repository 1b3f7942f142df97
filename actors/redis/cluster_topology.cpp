#include "pulse/actors/redis/cluster_topology.hpp"

#include <algorithm>
#include <cstdlib>

#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::cluster {

namespace {

// `host:port`, with brackets for an IPv6 host (as `host_port::text`).
std::string addr_of(const std::string& host, int64_t port) {
  return detail::host_port{host, static_cast<uint16_t>(port)}.text();
}

} // namespace

int16_t slot_table::index_of(const std::string& addr) {
  auto i = std::find(masters.begin(), masters.end(), addr);
  if (i != masters.end())
    return static_cast<int16_t>(i - masters.begin());
  masters.push_back(addr);
  return static_cast<int16_t>(masters.size() - 1);
}

size_t slot_table::covered() const {
  return static_cast<size_t>(
    std::count_if(owner.begin(), owner.end(), [](int16_t x) { return x >= 0; }));
}

caf::expected<slot_table> parse_slots(const resp::value& reply,
                                      const std::string& default_host) {
  auto bad = [](const std::string& why) {
    return make_error(errc::protocol_error, "CLUSTER SLOTS: " + why);
  };
  if (!reply.is_array())
    return bad(reply.is_error() ? reply.str : "not an array");
  slot_table result;
  result.owner.assign(slot_count, -1);
  for (auto& range : reply.elements) {
    if (!range.is_array() || range.elements.size() < 3)
      return bad("range entry is not [start, end, master, ...]");
    auto lo = range.elements[0].as_integer();
    auto hi = range.elements[1].as_integer();
    auto& node = range.elements[2];
    if (!lo || !hi || *lo < 0 || *hi >= slot_count || *lo > *hi
        || !node.is_array() || node.elements.size() < 2)
      return bad("bad range entry");
    auto port = node.elements[1].as_integer();
    if (!port || *port <= 0 || *port > 65535)
      return bad("bad port");
    auto host = node.elements[0].str.empty() ? default_host
                                             : node.elements[0].str;
    auto idx = result.index_of(addr_of(host, *port));
    for (auto s = *lo; s <= *hi; ++s)
      result.owner[static_cast<size_t>(s)] = idx;
  }
  return result;
}

std::optional<redirect> parse_redirect(const std::string& text,
                                       const std::string& default_host) {
  redirect result;
  std::string rest;
  if (text.compare(0, 6, "MOVED ") == 0) {
    rest = text.substr(6);
  } else if (text.compare(0, 4, "ASK ") == 0) {
    result.ask = true;
    rest = text.substr(4);
  } else {
    return std::nullopt;
  }
  auto space = rest.find(' ');
  if (space == std::string::npos || space == 0)
    return std::nullopt;
  char* end = nullptr;
  auto slot = std::strtol(rest.c_str(), &end, 10);
  if (end != rest.c_str() + space || slot < 0 || slot >= slot_count)
    return std::nullopt;
  result.slot = static_cast<uint16_t>(slot);
  auto addr = rest.substr(space + 1);
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 >= addr.size())
    return std::nullopt;
  auto host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port = std::strtol(addr.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535)
    return std::nullopt;
  result.addr = addr_of(host.empty() ? default_host : host, port);
  return result;
}

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
