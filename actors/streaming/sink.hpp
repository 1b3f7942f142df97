#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "messages/streaming.hpp"
#include "messages/options.hpp"

namespace pulse {

class services;

/// Options of a sink (defaults as in Go Pulse unless noted). Filtered-out
/// events are acked at once.
struct sink_options : stream_read_options {
  /// `XREADGROUP ... NOACK`: events are never pending (at-most-once).
  bool no_ack = false;
  /// Unacked events idle this long are reclaimed by a live instance; the
  /// keep-alive runs every grace/2 and consumers silent for 2 x grace are
  /// stale. Every instance of one sink name must use the same value.
  caf::timespan ack_grace = std::chrono::seconds{20};
  /// An event delivered this many times without an ack is copied to the
  /// dead-letter stream and acked (0 disables dead-lettering).
  uint64_t max_deliveries = 10;
  /// Dead-letter stream name; empty means `<stream>:dead-letter`.
  std::string dead_letter_stream;
  /// How often one instance (holding the lease) reclaims idle events and
  /// removes stale consumers (Go Pulse: 500 ms).
  caf::timespan idle_check = std::chrono::milliseconds{500};

  /// Returns options with the `[pulse.streaming]` defaults.
  static sink_options from(const streaming_defaults& d) {
    sink_options r;
    r.block = d.block_duration;
    r.max_polled = d.max_polled;
    r.buffer_size = d.buffer_size;
    r.ack_grace = d.ack_grace_period;
    r.max_deliveries = d.max_deliveries;
    r.idle_check = d.idle_check;
    return r;
  }
};

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
                                     sink_options opts = {});

/// The Lua script of the stale-consumer lease (Go Pulse semantics): takes
/// `KEYS[1]` if absent or expired (`ARGV = [now+495, now, 495]`).
const script& sink_lease_script();

} // namespace pulse
