#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/optional.hpp>

#include "pulse/actors/rmap/compact_table.hpp"

namespace pulse {

/// The local copy of a replicated map, readable from any thread without a
/// mailbox round trip. 64 shards, each behind a `std::shared_mutex`:
/// readers of different keys do not contend, readers never block each
/// other, and the single writer (the replica actor) locks one shard per
/// change. Whole-map reads (`snapshot`, `keys`, `for_each`) lock the shards
/// one at a time, so they are consistent per shard, not across shards.
///
/// Each shard is a `rmap_detail::compact_table`: keys and values packed
/// into arena blocks with an open-addressing index (about 45 bytes per
/// entry of a 10-byte key and a 12-byte value, against about 100 for
/// `std::unordered_map` nodes). A snapshot is built off to the side as an
/// `image` and swapped in by `replace`.
class rmap_store {
public:
  /// The content of a map: field to value.
  using content = std::unordered_map<std::string, std::string>;

  /// A whole content built without locks (from an `HGETALL` reply), then
  /// swapped into a store by `replace(image&&)`.
  class image {
  public:
    /// An empty image, sized for `entries` entries with `bytes` key and
    /// value bytes in total (0: grow as needed).
    explicit image(size_t entries = 0, size_t bytes = 0);

    /// Sets `key` to `value` (a later set of the same key wins).
    void set(std::string_view key, std::string_view value);

    /// Sets `key` (whose `hash` is `h`) to `value`.
    void set(std::string_view key, std::string_view value, size_t h);

    /// The hash `set` and `prefetch` take for `key`.
    static size_t hash(std::string_view key) noexcept {
      return rmap_detail::compact_table::hash(key);
    }

    /// Hints that a `set` with hash `h` follows soon (a bulk load issues
    /// it some entries ahead, so index cache misses overlap).
    void prefetch(size_t h) const noexcept {
      parts_[h % 64].prefetch(h);
    }

    /// Returns whether `key` is present.
    bool contains(std::string_view key) const;

    /// Number of keys.
    size_t size() const noexcept { return count_; }

    /// Calls `f(key, value)` for every entry (views into the image).
    template <class F>
    void for_each(F&& f) const {
      for (auto& p : parts_)
        p.for_each(f);
    }

  private:
    friend class rmap_store;
    std::array<rmap_detail::compact_table, 64> parts_;
    size_t count_ = 0;
  };

  /// Returns the value of `key`, or `none`. A key set to "" is present.
  caf::optional<std::string> get(std::string_view key) const;

  /// Number of keys.
  size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

  /// All keys (unordered).
  std::vector<std::string> keys() const;

  /// A copy of the whole content.
  content snapshot() const;

  /// Calls `f(key, value)` for every entry, one shard at a time under its
  /// read lock (`f` must not call back into the store).
  template <class F>
  void for_each(F&& f) const {
    for (auto& s : shards_) {
      std::shared_lock<std::shared_mutex> guard{s.mtx};
      s.data.for_each(f);
    }
  }

  /// Bytes the store allocated for its content (indexes and arenas).
  size_t allocated() const;

  /// The revision of the last applied change.
  uint64_t rev() const noexcept { return rev_.load(std::memory_order_acquire); }

  // -- writer side (the replica actor) ----------------------------------------

  /// Sets `key`; returns the previous value (if any).
  caf::optional<std::string> put(std::string_view key, std::string_view value);

  /// Erases `key`; returns the previous value (if any).
  caf::optional<std::string> erase(std::string_view key);

  /// Replaces everything with `xs`.
  void replace(const content& xs);

  /// Replaces everything with `img` (which is left empty); the old content
  /// is freed after the shard locks are released.
  void replace(image&& img);

  /// Publishes the revision (after the change is visible).
  void rev(uint64_t x) noexcept { rev_.store(x, std::memory_order_release); }

private:
  static constexpr size_t shard_count = 64;

  struct alignas(64) shard {
    mutable std::shared_mutex mtx;
    rmap_detail::compact_table data;
  };

  std::array<shard, shard_count> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<uint64_t> rev_{0};
};

} // namespace pulse
