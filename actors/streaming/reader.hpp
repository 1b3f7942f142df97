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

/// Spawns a reader over `streams` (at least one). Every reader has its own
/// cursors, so every reader sees every event.
///
/// - Reads with `XREAD COUNT <max_polled> BLOCK <block> STREAMS ...` on its
///   own blocking gateway (never the shared one), starting once the first
///   subscriber is added. `"$"` is resolved to the stream's last ID when the
///   stream is added, so nothing written afterwards is missed.
/// - Subscribers get `event_batch` requests and reply `true`; the reader
///   reads on only when all replied (back-pressure, bounded memory).
/// - Entries lacking `n` or `p` (written by other clients) are logged and
///   skipped. Filtered events still advance the cursor.
/// - `add_stream` is idempotent (by stream), `rm_stream` too; both take
///   effect at once (an `XREAD` in flight is canceled and re-issued).
/// - Read errors (Redis down) are logged and retried with back-off.
///
/// Errors: `errc::invalid_argument` for an invalid stream name or topic
/// pattern (`topic pattern must be a valid regex: ...`); `errc::redis_error`
/// (`WRONGTYPE ...`) when a stream's key holds another type (checked with
/// `TYPE` at spawn; skipped while Redis is unreachable).
caf::expected<reader_actor> spawn_reader(services& rt,
                                         std::vector<std::string> streams,
                                         reader_options opts);

/// Checks with `TYPE` that each stream's key is a stream or absent; returns
/// `errc::redis_error` (`WRONGTYPE ...`) naming the first that is not, and
/// no error when Redis cannot be asked.
caf::error check_stream_types(services& rt,
                              const std::vector<std::string>& streams);

/// Spawns a reader with the configured `[pulse.streaming]` defaults
/// (`reader_options::from(rt.opts().streaming)`); see above.
caf::expected<reader_actor> spawn_reader(services& rt,
                                         std::vector<std::string> streams);

} // namespace pulse
