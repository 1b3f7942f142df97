#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pulse::rmap_detail {

/// A compact string-to-string hash table: one shard of `rmap_store`. Not
/// thread-safe (the store locks around it).
///
/// Entries live back to back in arena blocks as `varint key length, varint
/// value length, key bytes, value bytes` (24 bytes for a 10-byte key and a
/// 12-byte value). The index is open addressing with linear probing, at
/// most 80 % full, with backward-shift deletion (no tombstones): one 8-byte
/// slot per entry holding the entry's address in its low 48 bits and 16
/// bits of the key's hash above them (0 = empty), so a probe reads one
/// slot and touches an entry only when the hash bits match (a lookup costs
/// the slot's and the entry's cache lines, like a node-based map's bucket
/// and node). User-space addresses fit 48 bits on x86-64 and AArch64 Linux
/// (higher ones are only handed out on request); `allocate` checks it. An
/// overwrite with a value of the same length writes in place; any other
/// overwrite or erase leaves the old bytes as garbage, and once garbage
/// outweighs the live bytes the arena is compacted (the index keeps its
/// slots, only its pointers move).
class compact_table {
public:
  compact_table() = default;
  /// Takes `other`'s content, leaving it empty.
  compact_table(compact_table&& other) noexcept { swap(other); }
  /// Takes `other`'s content (this one's is freed), leaving it empty.
  compact_table& operator=(compact_table&& other) noexcept {
    compact_table tmp{std::move(other)};
    swap(tmp);
    return *this;
  }
  compact_table(const compact_table&) = delete;
  compact_table& operator=(const compact_table&) = delete;

  /// The hash every caller passes in (`std::hash<std::string_view>`).
  static size_t hash(std::string_view key) noexcept;

  /// Returns the entry of `key` (hash `h`), or null when absent; read it
  /// with `key_of` and `value_of`. Valid until the next change.
  const char* find(std::string_view key, size_t h) const noexcept;

  /// Key of an entry returned by `find`.
  static std::string_view key_of(const char* entry) noexcept;

  /// Value of an entry returned by `find`.
  static std::string_view value_of(const char* entry) noexcept;

  /// Sets `key` to `value`; returns whether it existed, then storing its
  /// previous value in `*prev` when `prev` is not null.
  bool put(std::string_view key, std::string_view value, size_t h,
           std::string* prev);

  /// Erases `key`; returns whether it existed, then storing its previous
  /// value in `*prev` when `prev` is not null.
  bool erase(std::string_view key, size_t h, std::string* prev);

  /// Hints that `put` or `find` with hash `h` follows soon: prefetches its
  /// home slot (bulk loads issue it a few entries ahead).
  void prefetch(size_t h) const noexcept {
    if (capacity_ != 0)
      __builtin_prefetch(&slots_[home_of(h)], 1);
  }

  /// Prepares for `entries` more entries of `bytes` key and value bytes in
  /// total (a bulk load): sizes the index and the next arena block.
  void reserve(size_t entries, size_t bytes);

  /// Calls `f(key, value)` for every entry.
  template <class F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < capacity_; ++i)
      if (slots_[i] != 0)
        f(key_of(entry_of(slots_[i])), value_of(entry_of(slots_[i])));
  }

  /// Number of entries.
  size_t size() const noexcept { return count_; }

  /// Bytes allocated by this table (index and arena blocks).
  size_t allocated() const noexcept;

  /// Drops every entry and frees all memory.
  void clear() noexcept;

  /// Exchanges the content of this table and `other`.
  void swap(compact_table& other) noexcept;

private:
  static constexpr uint64_t address_mask = (uint64_t{1} << 48) - 1;
  static uint64_t tag_of(size_t h) noexcept {
    return static_cast<uint64_t>(h) >> 48;
  }
  static char* entry_of(uint64_t slot) noexcept {
    return reinterpret_cast<char*>(static_cast<uintptr_t>(slot & address_mask));
  }
  static uint64_t slot_for(const char* entry, size_t h) noexcept {
    return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(entry))
           | (tag_of(h) << 48);
  }
  size_t home_of(size_t h) const noexcept { return (h >> 6) & (capacity_ - 1); }

  /// Slot of `key`, or `capacity_` when absent.
  size_t slot_of(std::string_view key, size_t h) const noexcept;
  /// Copies an entry into the arena; returns its address.
  char* append(std::string_view key, std::string_view value);
  /// Places `entry` (hash `h`) into a free slot (no growth check).
  void place(char* entry, size_t h) noexcept;
  /// Doubles the index (or allocates the first one).
  void grow(size_t min_capacity);
  /// Compacts the arena when garbage outweighs live bytes.
  void maybe_compact();

  /// Frees memory from `allocate`: `munmap` when `size` is set, else
  /// `free`.
  struct region_deleter {
    size_t size; // no default member initializer: keeps it default-constructible inside this class
    void operator()(char* p) const noexcept;
  };
  /// Memory for an index or an arena block.
  using region = std::unique_ptr<char, region_deleter>;
  /// Returns `n` bytes (zeroed if `zero`): from `malloc` when small, else
  /// its own mapping with every page populated up front (one system call
  /// instead of a page fault per 4 KiB while a snapshot fills it).
  static region allocate(size_t n, bool zero);

  /// Memory of `slots_`.
  region slots_mem_;
  /// Entry address | hash bits << 48; 0 = empty.
  uint64_t* slots_ = nullptr;
  size_t capacity_ = 0;
  size_t count_ = 0;

  struct block {
    region data;
    size_t size = 0;
  };
  std::vector<block> blocks_;
  /// Free bytes at the end of the last block.
  size_t left_ = 0;
  /// Size the next block should have at least (set by `reserve`).
  size_t next_block_ = 0;
  /// Bytes of all blocks.
  size_t arena_bytes_ = 0;
  /// Bytes of live entries.
  size_t live_bytes_ = 0;
  /// Bytes of overwritten or erased entries.
  size_t garbage_ = 0;
};

} // namespace pulse::rmap_detail
