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

  /// Commands that add one event: `XADD key [NOMKSTREAM] [MAXLEN ~ n] * n
  /// <name> p <payload> [t <topic>]`, wrapped with its TTL in
  /// `MULTI`/`EXEC` when a TTL is set (atomic, one round trip).
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

  /// Parses the replies of `add_commands`: the new entry ID, or "" when
  /// `only_if_exists` was set and the stream does not exist. Errors:
  /// `errc::redis_error`.
  static caf::expected<std::string>
  parse_add(const std::vector<resp::value>& replies);

  /// `XDEL key ids...`.
  command remove_command(const std::vector<std::string>& ids) const;

  /// Blocking: adds one event and returns its ID. Issues the commands of
  /// `add_commands` in one batch.
  caf::expected<std::string> add(client& c, const std::string& event_name,
                                 const std::string& payload,
                                 const std::string& topic = {},
                                 bool only_if_exists = false) const;

  /// Blocking, idempotent: adds one event under the producer's entry ID
  /// `id` (`<ms>-<seq>`, e.g. a timestamp and a per-producer sequence), so
  /// retrying after `errc::disconnected` or `errc::timeout` cannot store it
  /// twice: when Redis refuses the ID as not above the last entry,
  /// `XRANGE key id id` finds this very event (same name, payload, topic)
  /// and the ID is returned. Errors: `errc::invalid_argument` when the ID is
  /// below the last entry and not this event's, Redis errors.
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
