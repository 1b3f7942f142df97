#include "pulse/actors/pool/routing.hpp"

#include <algorithm>
#include <charconv>

#include "pulse/actors/pool/jump_hash.hpp"

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

std::optional<job_entry> parse_job_entry(const std::string& rec) {
  std::string* fields[4];
  job_entry e;
  fields[0] = &e.owner;
  fields[1] = &e.epoch;
  fields[2] = &e.state;
  fields[3] = &e.node;
  size_t pos = 0;
  for (auto* f : fields) {
    auto bar = rec.find('|', pos);
    if (bar == std::string::npos)
      return std::nullopt;
    *f = rec.substr(pos, bar - pos);
    pos = bar + 1;
  }
  e.dispatch_id = rec.substr(pos, rec.find('.', pos) - pos);
  return e;
}

} // namespace pulse::pool_routing
