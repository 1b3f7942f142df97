#pragma once

/// Wire encodings shared with Go Pulse v1.6.5: replicated-map notifications
/// and list values.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace pulse {

/// One decoded replicated-map notification (channel `map:<m>:updates`).
struct map_notification {
  /// The operation, the prefix of the message before its `:`.
  enum class op : uint8_t { set, del, reset, destroy };
  /// Which operation the message reports.
  op kind = op::set;
  /// The field (`set` and `del` only).
  std::string key;
  /// The new value (`set` only).
  std::string value;
  /// The map revision the operation produced.
  uint64_t rev = 0;
};

/// Decodes `set:`, `del:`, `reset:` and `destroy:` messages: 4-byte
/// little-endian length prefixes and a decimal revision. Errors
/// (`errc::protocol_error`): no `:`, unknown op, truncated data, a revision
/// that is not a decimal number.
caf::expected<map_notification> decode_notification(std::string_view msg);

/// Decodes a list value: a JSON array of strings, or else the legacy
/// comma-separated form (pieces kept as they are, empty ones included, as
/// Go Pulse reads them).
std::vector<std::string> decode_list(std::string_view value);

} // namespace pulse
