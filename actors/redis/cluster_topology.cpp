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

std::vector<std::string> slot_table::serving() const {
  std::vector<bool> used(masters.size(), false);
  for (auto o : owner)
    if (o >= 0 && static_cast<size_t>(o) < used.size())
      used[static_cast<size_t>(o)] = true;
  std::vector<std::string> out;
  for (size_t i = 0; i < masters.size(); ++i)
    if (used[i])
      out.push_back(masters[i]);
  return out;
}

std::vector<std::string> slot_table::nodes() const {
  auto out = masters;
  out.insert(out.end(), replicas.begin(), replicas.end());
  return out;
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
    for (size_t r = 3; r < range.elements.size(); ++r) {
      auto& rep = range.elements[r];
      if (!rep.is_array() || rep.elements.size() < 2)
        continue;
      auto rport = rep.elements[1].as_integer();
      if (!rport || *rport <= 0 || *rport > 65535)
        continue;
      auto rhost = rep.elements[0].str.empty() ? default_host
                                               : rep.elements[0].str;
      auto addr = addr_of(rhost, *rport);
      if (std::find(result.replicas.begin(), result.replicas.end(), addr)
          == result.replicas.end())
        result.replicas.push_back(std::move(addr));
    }
  }
  // A node named as master of one range and replica of another (during a
  // failover) counts as master.
  result.replicas.erase(
    std::remove_if(result.replicas.begin(), result.replicas.end(),
                   [&](const std::string& r) {
                     return std::find(result.masters.begin(),
                                      result.masters.end(), r)
                            != result.masters.end();
                   }),
    result.replicas.end());
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

} // namespace pulse::cluster
