#include "runtime/pool_routing.hpp"

#include <algorithm>
#include <charconv>

#include "runtime/jump_hash.hpp"

namespace pulse::pool_routing {

std::optional<int64_t> parse_i64(const std::string& s) {
  if (s.empty())
    return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size())
    return std::nullopt;
  return v;
}

std::vector<worker> active_workers(const std::map<std::string, std::string>& workers,
                                   const std::map<std::string, std::string>& keepalives,
                                   const std::map<std::string, std::string>& cleanup,
                                   int64_t now_ns, int64_t ttl_ns) {
  std::vector<worker> result;
  for (auto& [id, value] : workers) {
    if (value == "-")
      continue;
    if (auto lock = cleanup.find(id); lock != cleanup.end()) {
      auto taken = parse_i64(lock->second);
      if (taken && now_ns - *taken <= ttl_ns)
        continue; // being cleaned up by some node
    }
    auto created = parse_i64(value);
    if (!created)
      continue;
    result.push_back(worker{id, *created});
  }
  sort_routing_order(result);
  result.erase(std::remove_if(result.begin(), result.end(),
                              [&](const worker& w) {
                                auto i = keepalives.find(w.id);
                                if (i == keepalives.end())
                                  return true;
                                auto ka = parse_i64(i->second);
                                return !ka || now_ns - *ka > ttl_ns;
                              }),
               result.end());
  return result;
}

void sort_routing_order(std::vector<worker>& xs) {
  std::sort(xs.begin(), xs.end(), [](const worker& x, const worker& y) {
    return x.created_at != y.created_at ? x.created_at < y.created_at
                                        : x.id < y.id;
  });
}

std::optional<worker> owner(const std::vector<worker>& active,
                            const std::string& key) {
  if (active.empty())
    return std::nullopt;
  auto i = jump_hash(key, static_cast<int64_t>(active.size()));
  return active[static_cast<size_t>(i)];
}

} // namespace pulse::pool_routing
