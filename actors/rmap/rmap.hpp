#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/optional.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/rmap.hpp"
#include "pulse/actors/rmap/store.hpp"

namespace pulse {

class client;
class propagation_probe;
class services;

namespace rmap {

/// Options of a replicated map (see `map_options`).
using options = map_options;

/// A replicated map `string -> string`: the Redis hash `map:<name>:content`
/// is the source of truth; every mutation is one Lua script that also bumps
/// `=rev`, sets `=kind` and publishes on `map:<name>:updates` (Go Pulse
/// v1.6.5 compatible); this process' replica keeps a local copy.
///
/// - Reads (`get`, `keys`, `len`, `snapshot`, `get_values`) are local, from
///   any thread, without a mailbox round trip.
/// - Writes block for one round trip and are thread-safe. A write does not
///   update the local copy by itself: the copy changes when the write's
///   notification comes back. `set_and_wait` returns only after that.
/// - Keys must be non-empty and contain no `=` (`errc::invalid_argument`:
///   `pulse map: key cannot be empty in "set"`).
/// - After `close`, reads return the frozen copy and writes fail with
///   `errc::closed` (`pulse map: <name> is stopped`), except `reset` and
///   `destroy`, which Go Pulse also allows.
class map {
public:
  /// Result of `set_ex`.
  struct set_result {
    /// Value before the call (`none` if the key was absent).
    caf::optional<std::string> prev;
    /// The revision the write committed.
    uint64_t rev = 0;
  };

  /// Result of `test_and_set_ex`, `delete_ex`, `test_and_delete_ex`.
  struct test_result {
    /// Value before the call (`none` if the key was absent).
    caf::optional<std::string> prev;
    /// Whether the write happened.
    bool done = false;
  };

  /// Result of `remove_values`.
  struct remove_result {
    /// Remaining items; `none` when the key is absent (missing or emptied).
    caf::optional<std::vector<std::string>> remaining;
    /// Whether anything was removed.
    bool removed = false;
  };

  /// Joins map `name`: subscribes, loads the hash, starts the replica.
  /// Errors: `errc::invalid_argument` (name, negative TTL), Redis errors,
  /// `errc::timeout` after `join_timeout`.
  static caf::expected<std::shared_ptr<map>>
  join(services& rt, const std::string& name, options opts);

  /// Joins map `name` with the configured `[pulse.rmap]` defaults
  /// (`map_options::from(rt.opts().rmap)`); see above.
  static caf::expected<std::shared_ptr<map>>
  join(services& rt, const std::string& name);

  ~map();

  map(const map&) = delete;
  map& operator=(const map&) = delete;

  /// The map's name.
  const std::string& name() const noexcept { return name_; }

  /// The replica actor (subscribe actors to changes through it).
  const replica_actor& replica() const noexcept { return replica_; }

  /// The local copy.
  const rmap_store& store() const noexcept { return *store_; }

  // -- local reads ------------------------------------------------------------

  /// Returns the value of `key`, or `none` if absent.
  caf::optional<std::string> get(const std::string& key) const {
    return store_->get(key);
  }
  /// Returns all keys (unordered).
  std::vector<std::string> keys() const { return store_->keys(); }
  /// Returns the number of keys.
  size_t len() const noexcept { return store_->size(); }
  /// Returns a copy of the whole content.
  rmap_store::content snapshot() const { return store_->snapshot(); }
  /// Returns the revision of the last change this replica applied.
  uint64_t rev() const noexcept { return store_->rev(); }

  /// The value of `key` as a list (JSON array, or legacy comma-separated).
  caf::optional<std::vector<std::string>> get_values(const std::string& key) const;

  // -- writes (one Lua script each) -------------------------------------------

  /// Sets `key`; returns the previous value.
  caf::expected<caf::optional<std::string>> set(const std::string& key,
                                                const std::string& value);

  /// Sets `key`; returns the previous value and the committed revision.
  caf::expected<set_result> set_ex(const std::string& key,
                                   const std::string& value);

  /// Sets `key` and returns once this replica applied the write.
  caf::expected<caf::optional<std::string>>
  set_and_wait(const std::string& key, const std::string& value);

  /// Sets `key` only if absent; returns whether it was written.
  caf::expected<bool> set_if_not_exists(const std::string& key,
                                        const std::string& value);

  /// Sets `key` to `value` only if its current value is `test` (a missing
  /// key never matches). Returns the value before the call.
  caf::expected<caf::optional<std::string>>
  test_and_set(const std::string& key, const std::string& test,
               const std::string& value);

  /// Like `test_and_set`; also returns whether the write happened.
  caf::expected<test_result> test_and_set_ex(const std::string& key,
                                             const std::string& test,
                                             const std::string& value);

  /// Adds `delta`; returns the new value. A non-integer value is a
  /// `errc::redis_error`.
  caf::expected<int64_t> inc(const std::string& key, int64_t delta);

  /// Appends items to the list at `key`; returns the new list.
  caf::expected<std::vector<std::string>>
  append_values(const std::string& key, const std::vector<std::string>& items);

  /// Appends items not yet present; returns the new list.
  caf::expected<std::vector<std::string>>
  append_unique_values(const std::string& key,
                       const std::vector<std::string>& items);

  /// Removes every occurrence of the items; an emptied list deletes the key.
  caf::expected<remove_result>
  remove_values(const std::string& key, const std::vector<std::string>& items);

  /// Deletes `key`; returns the previous value.
  caf::expected<caf::optional<std::string>> del(const std::string& key);

  /// Like `del`; also returns whether the key existed.
  caf::expected<test_result> delete_ex(const std::string& key);

  /// Deletes `key` only if its value is `test`; returns the value before.
  caf::expected<caf::optional<std::string>>
  test_and_delete(const std::string& key, const std::string& test);

  /// Like `test_and_delete`; also returns whether the key was deleted.
  caf::expected<test_result> test_and_delete_ex(const std::string& key,
                                                const std::string& test);

  /// Empties the map (the hash keeps `=rev` and `=kind: reset`).
  caf::error reset();

  /// Resets only if every key has its test value (a missing key never
  /// matches); empty lists always reset. Returns whether it reset.
  caf::expected<bool> test_and_reset(const std::vector<std::string>& keys,
                                     const std::vector<std::string>& tests);

  /// Empties the map leaving the tombstone `{=rev, =kind: destroy}`.
  caf::error destroy();

  /// Stops the replica and waits until it stopped: from then on reads
  /// return the frozen copy and writes fail. Idempotent.
  void close();

  /// Returns whether `close` was called.
  bool closed() const;

  /// Runs any write (the message form's `map_write`, also what every write
  /// above calls): one Lua script round trip through the shared gateway.
  /// Errors: `errc::invalid_argument`, `errc::closed` (except `reset` and
  /// `destroy`), Redis errors, `errc::protocol_error`.
  caf::expected<map_write_result> write(const map_write& w);

private:
  map(services& rt, std::string name, options opts);


  services& rt_;
  std::string name_;
  options opts_;
  std::shared_ptr<rmap_store> store_;
  std::shared_ptr<propagation_probe> probe_;
  replica_actor replica_;
  std::vector<std::string> keys_;
  mutable std::mutex mtx_;
  std::vector<std::unique_ptr<client>> idle_clients_;
  bool closed_ = false;
};

} // namespace rmap
} // namespace pulse
