#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pulse/messages/redis.hpp"
#include "pulse/messages/resp.hpp"

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

/// Returns whether stream entry ID `a` is after `b` (`<ms>-<seq>`).
bool entry_id_after(const std::string& a, const std::string& b);

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
