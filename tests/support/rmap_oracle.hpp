#pragma once

/// Test oracles for the replicated map's wire encodings: they encode
/// exactly what the Lua scripts (and Go Pulse) write, so tests can check the
/// decoders byte by byte. Production code never encodes these forms.

#include <string>
#include <vector>

#include "pulse/actors/rmap/encoding.hpp"

namespace pulse::test {

/// Encodes a notification exactly as the Lua scripts publish it.
std::string encode_notification(const map_notification& n);

/// Encodes a list value as a compact JSON array of strings the way Lua's
/// cjson does: `/` as `\/`, `"` and `\` escaped, control characters as
/// `\uXXXX` (except \b \f \n \r \t), other bytes (UTF-8) raw.
std::string encode_list(const std::vector<std::string>& items);

} // namespace pulse::test
