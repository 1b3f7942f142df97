#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/redis.hpp"
#include "pulse/messages/streaming.hpp"
#include "pulse/messages/options.hpp"

namespace pulse {

class client;
class services;

/// A named event stream: the Redis stream `pulse:stream:<name>` with entry
/// fields `n` (event name), `p` (payload) and optional `t` (topic), as Go
/// Pulse writes them. A plain value: it builds commands for a gateway and
/// parses their replies, so actors send them asynchronously and the
/// blocking helpers below run them for non-actor code.
class stream {
public:
  /// Validates the name (`pulse stream: not a valid name "..."`) and the
  /// options (a negative TTL is an error). Errors: `errc::invalid_argument`.
  static caf::expected<stream> make(std::string name, stream_options opts = {});

  /// Like `make`, with the configured `[pulse.streaming]` defaults
  /// (`stream_options::from(rt.opts().streaming)`).
  static caf::expected<stream> make(const services& rt, std::string name);

  /// The stream name.
  const std::string& name() const noexcept { return name_; }

  /// The Redis key: `pulse:stream:<name>`.
  const std::string& key() const noexcept { return key_; }

  /// The stream's options.
  const stream_options& opts() const noexcept { return opts_; }

  /// Commands that add one event. In `trim_mode::approximate`: `XADD key
  /// [NOMKSTREAM] [MAXLEN ~ n] * n <name> p <payload> [t <topic>]`, wrapped
  /// with its TTL in `MULTI`/`EXEC` when a TTL is set (atomic, one round
  /// trip). In `trim_mode::safe`: one `EVAL` of `safe_add_script()`
  /// with `script_add_args` (the script's source goes with every command,
  /// so it works in any batch; `add` and the runtime actor send `EVALSHA`
  /// through the gateway's script request instead).
  std::vector<command> add_commands(const std::string& event_name,
                                    const std::string& payload,
                                    const std::string& topic = {},
                                    bool only_if_exists = false) const;

  /// Like `add_commands` with the producer's entry ID `id` (`<ms>-<seq>`,
  /// above the stream's last entry) instead of `*`.
  std::vector<command> add_commands_with_id(const std::string& id,
                                            const std::string& event_name,
                                            const std::string& payload,
                                            const std::string& topic = {},
                                            bool only_if_exists
                                            = false) const;

  /// The arguments of `safe_add_script()` (keys: `{key()}`) for one
  /// add in `trim_mode::safe`: `id` (`*` or the producer's), `max_len`, the
  /// TTL in ms (0: none), sliding flag, NOMKSTREAM flag (`only_if_exists`),
  /// then the entry's fields `n <name> p <payload> [t <topic>]`.
  std::vector<std::string> script_add_args(const std::string& id,
                                           const std::string& event_name,
                                           const std::string& payload,
                                           const std::string& topic = {},
                                           bool only_if_exists
                                           = false) const;

  /// Parses the replies of `add_commands`: the new entry ID, or "" when
  /// `only_if_exists` was set and the stream does not exist. Errors:
  /// `errc::redis_error` (Redis refused the add or the transaction),
  /// `errc::protocol_error` (an unexpected reply).
  static caf::expected<std::string>
  parse_add(const std::vector<resp::value>& replies);

  /// Parses the reply of one `XADD` or of `safe_add_script()`: the new
  /// entry ID, or "" for nil (NOMKSTREAM, no stream). Errors as
  /// `parse_add`.
  static caf::expected<std::string> parse_add_reply(const resp::value& reply);

  /// Returns whether `err`, from an add with the producer's ID, says that
  /// Redis refused the ID as equal to or below the stream's last entry: a
  /// retry of an add that succeeded before. Check with `XRANGE key id id`
  /// and `own_entry`.
  static bool id_not_above_last(const caf::error& err);

  /// Reads the reply of `XRANGE key id id` after Redis refused `id`
  /// (`id_not_above_last`): returns `id` when that entry is this very event
  /// (same name, payload and topic), so the add had succeeded before.
  /// Errors: `errc::invalid_argument` (no such entry: the ID is below the
  /// last one; or another event holds it), `errc::protocol_error` (an
  /// unexpected reply).
  caf::expected<std::string> own_entry(const resp::value& range,
                                       const std::string& id,
                                       const std::string& event_name,
                                       const std::string& payload,
                                       const std::string& topic) const;

  /// `XDEL key ids...`.
  command remove_command(const std::vector<std::string>& ids) const;

  /// Blocking: adds one event and returns its ID ("" when `only_if_exists`
  /// is set and the stream does not exist). In `trim_mode::approximate` it
  /// issues the commands of `add_commands` in one batch; in
  /// `trim_mode::safe` one `EVALSHA` of `safe_add_script()` (which
  /// runs `XADD`, `PEXPIRE` and, once the stream is over `max_len`,
  /// `XINFO GROUPS`, `XPENDING`, `XRANGE` and `XTRIM`). Errors:
  /// `errc::redis_error` (e.g. a key of another type), gateway errors
  /// (`errc::timeout`, `errc::disconnected`, ...).
  caf::expected<std::string> add(client& c, const std::string& event_name,
                                 const std::string& payload,
                                 const std::string& topic = {},
                                 bool only_if_exists = false) const;

  /// Blocking, idempotent: adds one event under the producer's entry ID
  /// `id` (`<ms>-<seq>`, e.g. a timestamp and a per-producer sequence), so
  /// retrying after `errc::disconnected` or `errc::timeout` cannot store it
  /// twice: when Redis refuses the ID as not above the last entry,
  /// `XRANGE key id id` finds this very event (same name, payload, topic)
  /// and the ID is returned. Trims as `add` does. Errors:
  /// `errc::invalid_argument` when the ID is below the last entry and not
  /// this event's, Redis errors, gateway errors.
  caf::expected<std::string> add_with_id(client& c, const std::string& id,
                                         const std::string& event_name,
                                         const std::string& payload,
                                         const std::string& topic
                                         = {}) const;

  /// Blocking: `XDEL`. Returns the number of entries removed.
  caf::expected<int64_t> remove(client& c,
                                const std::vector<std::string>& ids) const;

  /// Blocking: deletes the stream (`DEL`) and, when sinks used it, destroys
  /// its sink membership map `stream:<name>:sinks` (leaving the rmap
  /// tombstone, as Go Pulse does). Destroying a missing stream succeeds.
  caf::error destroy(client& c) const;

private:
  stream(std::string name, stream_options opts);

  // Adds one event under `id` ("*": Redis picks it), as `opts_.trim` says.
  caf::expected<std::string> run_add(client& c, const std::string& id,
                                     const std::string& event_name,
                                     const std::string& payload,
                                     const std::string& topic,
                                     bool only_if_exists) const;

  std::string name_;
  std::string key_;
  stream_options opts_;
};

/// Returns `pulse:stream:<name>`.
std::string stream_key(const std::string& name);

/// Parses one XREAD/XREADGROUP/XRANGE entry (`[id, [f1, v1, ...]]`) into an
/// event, moving the strings out of `entry` (which keeps its shape and the
/// entry ID). Errors (`errc::protocol_error`): not an entry, or fields `n`
/// or `p` missing (written by another client).
caf::expected<event> parse_entry(resp::value& entry,
                                 const std::string& stream_name);

} // namespace pulse
