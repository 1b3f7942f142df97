#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "messages/streaming.hpp"
#include "runtime/config.hpp"

namespace pulse {

class runtime;

/// Options of a stream reader (defaults as in Go Pulse; `caf-application.conf`
/// section `[pulse.streaming]` can change them, see `streaming_defaults`).
struct reader_options {
  /// `XREAD ... BLOCK` duration.
  caf::timespan block = std::chrono::seconds{5};
  /// `XREAD ... COUNT` value.
  uint64_t max_polled = 1000;
  /// Where reading starts: `"$"` (newest: events added after the reader was
  /// created), `"0"` (oldest), or an entry ID (exclusive). See `start_at`.
  std::string start = "$";
  /// Only events with exactly this topic (empty: no filter).
  std::string topic;
  /// Only events whose topic matches this ECMAScript regex anywhere
  /// (unanchored search); ignored when `topic` is set.
  std::string topic_pattern;
  /// Maximum events per batch sent to subscribers.
  uint64_t buffer_size = 1000;

  /// Returns options with the `[pulse.streaming]` defaults.
  static reader_options from(const streaming_defaults& d) {
    reader_options r;
    r.block = d.block_duration;
    r.max_polled = d.max_polled;
    r.buffer_size = d.buffer_size;
    return r;
  }

  /// Returns the start position for "events after `unix_ms`": `<ms>-0`
  /// (exclusive, as in Go Pulse).
  static std::string start_at(int64_t unix_ms) {
    return std::to_string(unix_ms) + "-0";
  }
};

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
/// pattern (`topic pattern must be a valid regex: ...`).
caf::expected<reader_actor> spawn_reader(runtime& rt,
                                         std::vector<std::string> streams,
                                         reader_options opts = {});

} // namespace pulse
