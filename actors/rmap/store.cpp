#include "pulse/actors/rmap/store.hpp"

#include <mutex>

namespace pulse {

using rmap_detail::compact_table;

rmap_store::image::image(size_t entries, size_t bytes) {
  if (entries == 0)
    return;
  // Shards get entries / 64 each, give or take a few standard deviations.
  auto per = entries / shard_count;
  auto slack = per / 16 + 16;
  auto per_bytes = bytes / entries * (per + slack);
  for (auto& p : parts_)
    p.reserve(per + slack, per_bytes);
}

void rmap_store::image::set(std::string_view key, std::string_view value) {
  set(key, value, compact_table::hash(key));
}

void rmap_store::image::set(std::string_view key, std::string_view value,
                            size_t h) {
  if (!parts_[h % shard_count].put(key, value, h, nullptr))
    ++count_;
}

bool rmap_store::image::contains(std::string_view key) const {
  auto h = compact_table::hash(key);
  return parts_[h % shard_count].find(key, h) != nullptr;
}

caf::optional<std::string> rmap_store::get(std::string_view key) const {
  auto h = compact_table::hash(key);
  auto& s = shards_[h % shard_count];
  std::shared_lock<std::shared_mutex> guard{s.mtx};
  auto e = s.data.find(key, h);
  if (e == nullptr)
    return caf::none;
  auto v = compact_table::value_of(e);
  return std::string{v.data(), v.size()};
}

std::vector<std::string> rmap_store::keys() const {
  std::vector<std::string> result;
  result.reserve(size());
  for_each([&](std::string_view k, std::string_view) {
    result.emplace_back(k);
  });
  return result;
}

rmap_store::content rmap_store::snapshot() const {
  content result;
  result.reserve(size());
  for_each([&](std::string_view k, std::string_view v) {
    result.emplace(std::string{k}, std::string{v});
  });
  return result;
}

size_t rmap_store::allocated() const {
  size_t n = 0;
  for (auto& s : shards_) {
    std::shared_lock<std::shared_mutex> guard{s.mtx};
    n += s.data.allocated();
  }
  return n;
}

caf::optional<std::string> rmap_store::put(std::string_view key,
                                           std::string_view value) {
  auto h = compact_table::hash(key);
  auto& s = shards_[h % shard_count];
  std::string prev;
  bool existed;
  {
    std::unique_lock<std::shared_mutex> guard{s.mtx};
    existed = s.data.put(key, value, h, &prev);
  }
  if (!existed) {
    size_.fetch_add(1, std::memory_order_relaxed);
    return caf::none;
  }
  return prev;
}

caf::optional<std::string> rmap_store::erase(std::string_view key) {
  auto h = compact_table::hash(key);
  auto& s = shards_[h % shard_count];
  std::string prev;
  {
    std::unique_lock<std::shared_mutex> guard{s.mtx};
    if (!s.data.erase(key, h, &prev))
      return caf::none;
  }
  size_.fetch_sub(1, std::memory_order_relaxed);
  return prev;
}

void rmap_store::replace(const content& xs) {
  size_t bytes = 0;
  for (auto& kvp : xs)
    bytes += kvp.first.size() + kvp.second.size();
  image img{xs.size(), bytes};
  for (auto& kvp : xs)
    img.set(kvp.first, kvp.second);
  replace(std::move(img));
}

void rmap_store::replace(image&& img) {
  for (size_t i = 0; i < shard_count; ++i) {
    std::unique_lock<std::shared_mutex> guard{shards_[i].mtx};
    shards_[i].data.swap(img.parts_[i]);
  }
  size_.store(img.count_, std::memory_order_relaxed);
  // `img` now holds the old content; it is freed outside the locks.
  for (auto& p : img.parts_)
    p.clear();
  img.count_ = 0;
}

} // namespace pulse
