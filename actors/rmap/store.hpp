#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/optional.hpp>

namespace pulse {

/// The local copy of a replicated map, readable from any thread without a
/// mailbox round trip. 64 shards, each behind a `std::shared_mutex`:
/// readers of different keys do not contend, readers never block each
/// other, and the single writer (the replica actor) locks one shard per
/// change. Whole-map reads (`snapshot`, `keys`) lock the shards one at a
/// time, so they are consistent per shard, not across shards.
class rmap_store {
public:
  /// The content of a map: field to value.
  using content = std::unordered_map<std::string, std::string>;

  /// Returns the value of `key`, or `none`. A key set to "" is present.
  caf::optional<std::string> get(const std::string& key) const;

  /// Number of keys.
  size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

  /// All keys (unordered).
  std::vector<std::string> keys() const;

  /// A copy of the whole content.
  content snapshot() const;

  /// The revision of the last applied change.
  uint64_t rev() const noexcept { return rev_.load(std::memory_order_acquire); }

  // -- writer side (the replica actor) ----------------------------------------

  /// Sets `key`; returns the previous value (if any).
  caf::optional<std::string> put(const std::string& key, std::string value);

  /// Erases `key`; returns the previous value (if any).
  caf::optional<std::string> erase(const std::string& key);

  /// Replaces everything.
  void replace(content xs);

  /// Publishes the revision (after the change is visible).
  void rev(uint64_t x) noexcept { rev_.store(x, std::memory_order_release); }

private:
  static constexpr size_t shard_count = 64;

  struct alignas(64) shard {
    mutable std::shared_mutex mtx;
    content data;
  };

  shard& shard_of(const std::string& key);
  const shard& shard_of(const std::string& key) const;

  std::array<shard, shard_count> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<uint64_t> rev_{0};
};

} // namespace pulse
