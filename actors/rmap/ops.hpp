#pragma once

/// The one write path of replicated maps: how a `map_write` becomes a Lua
/// script call and how the script's reply becomes a `map_write_result`.
/// Used by the `map` facade (blocking) and the replica actor's
/// `map_write_atom` handler (asynchronous).

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "pulse/messages/resp.hpp"
#include "pulse/messages/rmap.hpp"
#include "pulse/messages/script.hpp"

namespace pulse::rmap_ops {

/// The Lua script that runs `op` (`actors/rmap/scripts.hpp`).
const script& script_of(map_op op);

/// The script's KEYS for map `name`: the content hash only (the scripts
/// derive the updates channel from its name, so every map script touches
/// one key, one Redis Cluster slot).
std::vector<std::string> keys_of(const std::string& name);

/// Checks `w` (key rules, number of arguments) and returns the script's
/// ARGV: the TTL mode and milliseconds of `opts`, then the operation's
/// arguments. Errors: `errc::invalid_argument`, naming the operation.
caf::expected<std::vector<std::string>> args_of(const map_write& w,
                                                const map_options& opts);

/// Decodes the script's reply to `w`. Errors: `errc::protocol_error` for a
/// reply of the wrong shape.
caf::expected<map_write_result> decode(const map_write& w,
                                       const resp::value& reply);

} // namespace pulse::rmap_ops
