#pragma once

/// The `SCAN` walk behind `scan_keys_atom`: one node's cursor from 0 until
/// it is back at 0 (or a round limit), shared by the ordinary gateway (its
/// one connection) and the cluster router (each master in parallel).
/// Internal.

#include <functional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "pulse/messages/redis.hpp"

namespace pulse::detail {

/// Sends one command to the node being walked and hands its outcome to the
/// callback (from the walking actor's context).
using scan_send_fn = std::function<void(
  command, std::function<void(caf::expected<resp::value>)>)>;

/// Returns `SCAN <cursor> MATCH <pattern> COUNT <count> [TYPE <type>]`.
command scan_command(const scan_query& q, const std::string& cursor);

/// Appends the keys of a `SCAN` reply (`[cursor, [key...]]`) to `keys` and
/// returns the next cursor. Errors: `errc::redis_error` for an error
/// reply, `errc::protocol_error` for a reply of another shape.
caf::expected<std::string> parse_scan_reply(const resp::value& reply,
                                            std::vector<std::string>& keys);

/// Sorts `x.keys` and removes duplicates.
void normalize(scan_result& x);

/// Walks one node's cursor with `send` (one `SCAN` round at a time, the
/// next sent when the previous answered) and calls `done` once with every
/// key found (`complete` false when `q.max_rounds` stopped it first) or
/// with the first error.
void walk_scan(scan_send_fn send, scan_query q,
               std::function<void(caf::expected<scan_result>)> done);

} // namespace pulse::detail
