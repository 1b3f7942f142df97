#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pulse/messages/redis.hpp"
#include "pulse/messages/resp.hpp"
#include "pulse/messages/script.hpp"

namespace pulse {

/// What `XINFO STREAM` and `XINFO GROUPS` say about events a sink's
/// consumer group lost to trimming (`XADD ... MAXLEN`) before reading them:
/// when the oldest entry left is after the group's last delivered ID, the
/// group lost `entries-added - entries-read - length` events.
struct trim_report {
  /// Whether the group lost events it will never read.
  bool lost = false;
  /// How many (set when `lost`).
  uint64_t count = 0;
  /// The group's `last-delivered-id`.
  std::string last_delivered;
  /// The ID of the oldest entry in the stream (empty for an empty stream).
  std::string first_entry;
};

/// Commands that ask about stream `key`: `XINFO STREAM key` and
/// `XINFO GROUPS key` (Redis 7).
std::vector<command> trim_check_commands(const std::string& key);

/// Parses the replies of `trim_check_commands` for consumer group `group`.
/// Replies it cannot read (an error, a missing group, Redis before 7, no
/// valid `entries-read`) give a report with `lost == false`.
trim_report parse_trim_check(const std::vector<resp::value>& replies,
                             const std::string& group);

/// What `XINFO GROUPS` says about one consumer group's backlog.
struct group_backlog {
  /// Whether the group was in the reply.
  bool found = false;
  /// Entries delivered to the group and not acked (`pending`).
  uint64_t pending = 0;
  /// Entries not delivered to the group yet (`lag`, Redis 7); -1 when
  /// Redis reports it as unknown (nil) or not at all.
  int64_t lag = -1;
  /// Entries the group read (`entries-read`, Redis 7); -1 when unknown.
  int64_t entries_read = -1;
};

/// Parses the reply of `XINFO GROUPS <key>` for consumer group `group`; an
/// error reply or a missing group gives `found == false`.
group_backlog parse_group_backlog(const resp::value& groups,
                                  const std::string& group);

/// Returns whether stream entry ID `a` is after `b` (`<ms>-<seq>`).
bool entry_id_after(const std::string& a, const std::string& b);

/// Adds one event and trims the stream without losing events a sink has
/// not processed: the add of `trim_mode::safe` (`stream::add`, the runtime
/// actor's `stream_add_atom` and `stream_add_id_atom`).
///
/// Calling convention (ours): `KEYS = [pulse:stream:<name>]`,
/// `ARGV = [id, max_len, ttl_ms, sliding, nomkstream, n, <name>, p,
/// <payload>(, t, <topic>)]` (`stream::script_add_args`; flags are "1" or
/// "0"). Steps, atomically:
/// 1. `XADD key [NOMKSTREAM] <id> <fields...>`, without `MAXLEN`: the
///    entry is exactly what Go Pulse writes. A refused ID returns XADD's
///    error reply unchanged; NOMKSTREAM on a missing stream returns nil and
///    does nothing else.
/// 2. With `ttl_ms > 0`: `PEXPIRE key ttl_ms` when sliding, else
///    `PEXPIRE key ttl_ms NX` (as the `MULTI` form of the add).
/// 3. With `max_len > 0`, when `XLEN` exceeds `max_len` by at least
///    max(1, max_len / 100) entries (an amortization like `MAXLEN ~`: the
///    stream may stay up to that much above `max_len`): the safe bound is
///    the most conservative over every consumer group of `XINFO GROUPS`:
///    with pending entries, the entries before the oldest pending one
///    (`XPENDING key group`); without, the entries up to its
///    `last-delivered-id`. Of those, at most min(XLEN - max_len, 1000) of
///    the oldest entries are removed (`XRANGE key - <bound> COUNT n`, then
///    `XTRIM key MINID <after the last of them>`); without groups,
///    `XTRIM key MAXLEN max_len`. Stream IDs are compared exactly (as
///    decimal strings, not Lua numbers).
///
/// Returns the new entry ID, nil (NOMKSTREAM, no stream) or XADD's error.
/// Cost: O(groups + trimmed entries); a stream held above `max_len` by a
/// lagging group runs step 3 on every add, and a backlog left by a group
/// that caught up drains by up to 1,000 entries per add. Only consumer
/// groups hold entries back: readers (`XREAD`, no group) are not
/// protected, and a group deleted or never created protects nothing.
const script& safe_add_script();

class client;

/// Reporting of trimmed-unread events for one sink and stream.
namespace trim_watch {

/// Asks Redis (`trim_check_commands`) whether sink `group` lost events of
/// `stream` to trimming and logs a warning naming sink, stream, the IDs
/// and the count. Returns the count beyond `known` (already reported for
/// this gap), 0 when nothing new was lost or Redis could not be asked.
uint64_t check(client& c, const std::string& group, const std::string& stream,
               uint64_t known);

/// Like `check`, from the replies of `trim_check_commands`.
uint64_t report(const std::vector<resp::value>& replies,
                const std::string& group, const std::string& stream,
                uint64_t known);

} // namespace trim_watch

} // namespace pulse
