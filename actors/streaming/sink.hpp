#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/streaming.hpp"
#include "pulse/messages/options.hpp"

namespace pulse {

class services;

/// Spawns one instance of sink `name` (a consumer group of that name on
/// every stream; each instance is one consumer with a ULID name).
///
/// Creation blocks for a few round trips: `XGROUP CREATE <key> <name>
/// <start> MKSTREAM` (an existing group is fine), `XGROUP CREATECONSUMER`,
/// then the consumer joins Go Pulse's membership map `stream:<s>:sinks`
/// and keep-alive map `sink:<name>:keepalive` (rmap protocol), so Go and
/// C++ instances of one sink cooperate.
///
/// Delivery: `event_batch` requests to subscribers (reply `true`), each
/// event with `sink == name`; reading starts once a subscriber exists.
/// Subscribers ack with `(ack_atom, stream, id)` (batched into one `XACK`
/// per stream) or report a failure with `(nack_atom, stream, id, error)`.
/// Filtered events are acked at once. Entries lacking `n` or `p` are copied
/// to the dead-letter stream and acked. A deleted group (`NOGROUP`) is
/// re-created from `0`, with back-off, instead of spinning.
///
/// Every `idle_check`, the instance holding the lease `sink:<name>:stalelease`
/// dead-letters events delivered `max_deliveries` times, reclaims events
/// idle for `ack_grace` (`XAUTOCLAIM`) to its own subscribers, and removes
/// consumers whose keep-alive is missing or older than 2 x grace after
/// claiming their pending events.
///
/// Exit the actor to close the instance; its consumer and pending events
/// stay for the other instances to claim.
///
/// Errors: `errc::invalid_argument` (names, pattern), Redis errors of the
/// creation commands.
caf::expected<sink_actor> spawn_sink(services& rt, const std::string& name,
                                     std::vector<std::string> streams,
                                     sink_options opts);

/// Spawns a sink with the configured `[pulse.streaming]` defaults
/// (`sink_options::from(rt.opts().streaming)`); see above.
caf::expected<sink_actor> spawn_sink(services& rt, const std::string& name,
                                     std::vector<std::string> streams);

/// The Lua script of the stale-consumer lease (Go Pulse semantics): takes
/// `KEYS[1]` if absent or expired (`ARGV = [now+495, now, 495]`).
const script& sink_lease_script();

} // namespace pulse
