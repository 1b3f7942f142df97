#include "pulse/actors/rmap/compact_table.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>

namespace pulse::rmap_detail {

namespace {

/// Blocks grow with the arena up to this size; bigger entries get a block
/// of their own.
constexpr size_t max_block = 64 * 1024;
constexpr size_t min_block = 256;
/// An entry at least this large gets a block of its own (the current
/// block's free tail stays usable).
constexpr size_t own_block = 4096;
/// Index and arena blocks this large get their own, pre-populated mapping.
constexpr size_t populate_threshold = 128 * 1024;
/// Garbage below this is never worth a compaction.
constexpr size_t min_garbage = 4096;

size_t varint_size(size_t x) noexcept {
  size_t n = 1;
  while (x >= 0x80) {
    x >>= 7;
    ++n;
  }
  return n;
}

char* put_varint(char* out, size_t x) noexcept {
  while (x >= 0x80) {
    *out++ = static_cast<char>((x & 0x7F) | 0x80);
    x >>= 7;
  }
  *out++ = static_cast<char>(x);
  return out;
}

const char* get_varint(const char* in, size_t& x) noexcept {
  x = 0;
  unsigned shift = 0;
  for (;;) {
    auto b = static_cast<unsigned char>(*in++);
    x |= static_cast<size_t>(b & 0x7F) << shift;
    if (b < 0x80)
      return in;
    shift += 7;
  }
}

struct decoded {
  const char* key;
  size_t key_len;
  const char* value;
  size_t value_len;
};

decoded decode(const char* entry) noexcept {
  decoded d;
  auto p = get_varint(entry, d.key_len);
  p = get_varint(p, d.value_len);
  d.key = p;
  d.value = p + d.key_len;
  return d;
}

size_t entry_size(size_t key_len, size_t value_len) noexcept {
  return varint_size(key_len) + varint_size(value_len) + key_len + value_len;
}

size_t entry_size(const char* entry) noexcept {
  auto d = decode(entry);
  return static_cast<size_t>(d.value + d.value_len - entry);
}

} // namespace

void compact_table::region_deleter::operator()(char* p) const noexcept {
  if (size > 0)
    munmap(p, size);
  else
    std::free(p);
}

compact_table::region compact_table::allocate(size_t n, bool zero) {
  if (n >= populate_threshold) {
    auto p = mmap(nullptr, n, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
      throw std::bad_alloc{};
    region r{static_cast<char*>(p), region_deleter{n}};
    if ((reinterpret_cast<uintptr_t>(p) + n) >> 48 != 0)
      throw std::bad_alloc{}; // beyond 48 bits: slots cannot hold it
    return r;
  }
  auto p = zero ? std::calloc(n, 1) : std::malloc(n);
  if (p == nullptr)
    throw std::bad_alloc{};
  region r{static_cast<char*>(p), region_deleter{0}};
  if ((reinterpret_cast<uintptr_t>(p) + n) >> 48 != 0)
    throw std::bad_alloc{}; // beyond 48 bits: slots cannot hold it
  return r;
}

size_t compact_table::hash(std::string_view key) noexcept {
  return std::hash<std::string_view>{}(key);
}

std::string_view compact_table::key_of(const char* entry) noexcept {
  auto d = decode(entry);
  return {d.key, d.key_len};
}

std::string_view compact_table::value_of(const char* entry) noexcept {
  auto d = decode(entry);
  return {d.value, d.value_len};
}

size_t compact_table::slot_of(std::string_view key, size_t h) const noexcept {
  if (capacity_ == 0)
    return capacity_;
  auto tag = tag_of(h);
  auto mask = capacity_ - 1;
  for (auto i = home_of(h);; i = (i + 1) & mask) {
    auto s = slots_[i];
    if (s == 0)
      return capacity_;
    if ((s >> 48) == tag && key_of(entry_of(s)) == key)
      return i;
  }
}

const char* compact_table::find(std::string_view key, size_t h) const noexcept {
  auto i = slot_of(key, h);
  return i == capacity_ ? nullptr : entry_of(slots_[i]);
}

char* compact_table::append(std::string_view key, std::string_view value) {
  auto need = entry_size(key.size(), value.size());
  char* out = nullptr;
  if (need >= own_block && !blocks_.empty()) {
    // Its own block, before the current one (whose tail stays in use).
    block b{allocate(need, false), need};
    out = b.data.get();
    blocks_.insert(blocks_.end() - 1, std::move(b));
    arena_bytes_ += need;
  } else {
    if (need > left_) {
      auto size = next_block_ > 0
                    ? next_block_
                    : std::min(max_block, std::max(min_block, arena_bytes_));
      size = std::max(size, need);
      next_block_ = 0;
      blocks_.push_back({allocate(size, false), size});
      arena_bytes_ += size;
      left_ = size;
    }
    auto& last = blocks_.back();
    out = last.data.get() + (last.size - left_);
    left_ -= need;
  }
  auto p = put_varint(out, key.size());
  p = put_varint(p, value.size());
  if (!key.empty())
    std::memcpy(p, key.data(), key.size());
  if (!value.empty())
    std::memcpy(p + key.size(), value.data(), value.size());
  live_bytes_ += need;
  return out;
}

void compact_table::place(char* entry, size_t h) noexcept {
  auto mask = capacity_ - 1;
  auto i = home_of(h);
  while (slots_[i] != 0)
    i = (i + 1) & mask;
  slots_[i] = slot_for(entry, h);
}

void compact_table::grow(size_t min_capacity) {
  size_t cap = 8;
  while (cap < min_capacity)
    cap *= 2;
  if (cap <= capacity_)
    return;
  auto old_mem = std::move(slots_mem_);
  auto old_slots = slots_;
  auto old_cap = capacity_;
  slots_mem_ = allocate(cap * sizeof(uint64_t), true); // zeroed: all empty
  slots_ = reinterpret_cast<uint64_t*>(slots_mem_.get());
  capacity_ = cap;
  // Re-placed by their hash (recomputed from the key: slots keep 16 bits).
  for (size_t i = 0; i < old_cap; ++i)
    if (old_slots[i] != 0) {
      auto e = entry_of(old_slots[i]);
      place(e, hash(key_of(e)));
    }
}

void compact_table::reserve(size_t entries, size_t bytes) {
  auto total = count_ + entries;
  grow(total + total / 4 + 1);
  // Two bytes of lengths per entry cover keys and values up to 127 bytes;
  // longer ones spill into a further block.
  auto want = bytes + 2 * entries;
  if (want > left_)
    next_block_ = want;
}

bool compact_table::put(std::string_view key, std::string_view value,
                        size_t h, std::string* prev) {
  auto i = slot_of(key, h);
  if (i != capacity_) {
    auto old = entry_of(slots_[i]);
    auto d = decode(old);
    if (prev)
      prev->assign(d.value, d.value_len);
    if (d.value_len == value.size()) {
      if (!value.empty())
        std::memcpy(const_cast<char*>(d.value), value.data(), value.size());
      return true;
    }
    auto old_size = entry_size(old);
    slots_[i] = slot_for(append(key, value), h);
    live_bytes_ -= old_size;
    garbage_ += old_size;
    maybe_compact();
    return true;
  }
  if ((count_ + 1) * 5 > capacity_ * 4)
    grow(capacity_ * 2);
  place(append(key, value), h);
  ++count_;
  return false;
}

bool compact_table::erase(std::string_view key, size_t h, std::string* prev) {
  auto hole = slot_of(key, h);
  if (hole == capacity_)
    return false;
  auto old = entry_of(slots_[hole]);
  if (prev) {
    auto v = value_of(old);
    prev->assign(v.data(), v.size());
  }
  auto old_size = entry_size(old);
  live_bytes_ -= old_size;
  garbage_ += old_size;
  --count_;
  // Backward shift: move later entries of the cluster into the hole when
  // their home allows it.
  auto mask = capacity_ - 1;
  for (auto j = (hole + 1) & mask; slots_[j] != 0; j = (j + 1) & mask) {
    auto home = home_of(hash(key_of(entry_of(slots_[j]))));
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = 0;
  if (count_ == 0)
    clear();
  else
    maybe_compact();
  return true;
}

void compact_table::maybe_compact() {
  if (garbage_ < min_garbage || garbage_ <= live_bytes_)
    return;
  block b{allocate(live_bytes_, false), live_bytes_};
  auto out = b.data.get();
  for (size_t i = 0; i < capacity_; ++i) {
    if (slots_[i] == 0)
      continue;
    auto e = entry_of(slots_[i]);
    auto n = entry_size(e);
    std::memcpy(out, e, n);
    slots_[i] = (slots_[i] & ~address_mask)
                | static_cast<uint64_t>(reinterpret_cast<uintptr_t>(out));
    out += n;
  }
  blocks_.clear();
  blocks_.push_back(std::move(b));
  arena_bytes_ = live_bytes_;
  left_ = 0;
  garbage_ = 0;
}

size_t compact_table::allocated() const noexcept {
  return capacity_ * sizeof(uint64_t) + arena_bytes_
         + blocks_.capacity() * sizeof(block);
}

void compact_table::clear() noexcept {
  slots_mem_.reset();
  slots_ = nullptr;
  capacity_ = 0;
  count_ = 0;
  blocks_.clear();
  blocks_.shrink_to_fit();
  left_ = 0;
  next_block_ = 0;
  arena_bytes_ = 0;
  live_bytes_ = 0;
  garbage_ = 0;
}

void compact_table::swap(compact_table& other) noexcept {
  using std::swap;
  swap(slots_mem_, other.slots_mem_);
  swap(slots_, other.slots_);
  swap(capacity_, other.capacity_);
  swap(count_, other.count_);
  swap(blocks_, other.blocks_);
  swap(left_, other.left_);
  swap(next_block_, other.next_block_);
  swap(arena_bytes_, other.arena_bytes_);
  swap(live_bytes_, other.live_bytes_);
  swap(garbage_, other.garbage_);
}

} // namespace pulse::rmap_detail
