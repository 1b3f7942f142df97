#include "pulse/actors/rmap/store.hpp"

#include <functional>
#include <mutex>

namespace pulse {

rmap_store::shard& rmap_store::shard_of(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % shard_count];
}

const rmap_store::shard& rmap_store::shard_of(const std::string& key) const {
  return shards_[std::hash<std::string>{}(key) % shard_count];
}

caf::optional<std::string> rmap_store::get(const std::string& key) const {
  auto& s = shard_of(key);
  std::shared_lock<std::shared_mutex> guard{s.mtx};
  auto i = s.data.find(key);
  if (i == s.data.end())
    return caf::none;
  return i->second;
}

std::vector<std::string> rmap_store::keys() const {
  std::vector<std::string> result;
  result.reserve(size());
  for (auto& s : shards_) {
    std::shared_lock<std::shared_mutex> guard{s.mtx};
    for (auto& kvp : s.data)
      result.push_back(kvp.first);
  }
  return result;
}

rmap_store::content rmap_store::snapshot() const {
  content result;
  result.reserve(size());
  for (auto& s : shards_) {
    std::shared_lock<std::shared_mutex> guard{s.mtx};
    result.insert(s.data.begin(), s.data.end());
  }
  return result;
}

caf::optional<std::string> rmap_store::put(const std::string& key,
                                           std::string value) {
  auto& s = shard_of(key);
  std::unique_lock<std::shared_mutex> guard{s.mtx};
  auto [i, added] = s.data.try_emplace(key, std::move(value));
  if (added) {
    size_.fetch_add(1, std::memory_order_relaxed);
    return caf::none;
  }
  auto prev = std::move(i->second);
  i->second = std::move(value);
  return prev;
}

caf::optional<std::string> rmap_store::erase(const std::string& key) {
  auto& s = shard_of(key);
  std::unique_lock<std::shared_mutex> guard{s.mtx};
  auto i = s.data.find(key);
  if (i == s.data.end())
    return caf::none;
  auto prev = std::move(i->second);
  s.data.erase(i);
  size_.fetch_sub(1, std::memory_order_relaxed);
  return prev;
}

void rmap_store::replace(content xs) {
  std::array<content, shard_count> parts;
  size_t total = xs.size();
  for (auto& kvp : xs)
    parts[std::hash<std::string>{}(kvp.first) % shard_count].emplace(
      std::move(kvp.first), std::move(kvp.second));
  for (size_t i = 0; i < shard_count; ++i) {
    std::unique_lock<std::shared_mutex> guard{shards_[i].mtx};
    shards_[i].data.swap(parts[i]);
  }
  size_.store(total, std::memory_order_relaxed);
}

} // namespace pulse
