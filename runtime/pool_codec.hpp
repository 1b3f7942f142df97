#pragma once

/// Binary records of worker pools, byte-compatible with Go Pulse v1.6.5
/// (§4.3 of the protocol reference): little-endian i32 length prefixes,
/// raw bytes. Every record starts with the length-prefixed key.

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace pulse::pool_codec {

/// A job start (pool event `j`).
struct job {
  std::string key;
  std::string node_id;
  /// Empty means "no payload".
  std::string payload;
  /// Unix nanoseconds.
  int64_t created_at = 0;
  /// This start moves or recovers an existing payload.
  bool requeued = false;
};

/// A notification for a job's owner (pool event `n`).
struct notification {
  std::string key;
  std::string payload;
};

/// A payload wrapped with its sender (worker streams, node-stream `a`).
struct envelope {
  std::string sender;
  std::string inner;
};

/// A worker's answer: the acknowledged entry ID and an error text (empty
/// means success).
struct ack {
  std::string event_id;
  std::string error;
};

std::string encode(const job& x);
std::string encode_job_key(const std::string& key);
std::string encode(const notification& x);
std::string encode(const envelope& x);
std::string encode(const ack& x);

/// Decoders reject truncated input with `errc::protocol_error` (Go Pulse
/// panics there); trailing bytes are ignored, as in Go.
caf::expected<job> decode_job(std::string_view bytes);
caf::expected<std::string> decode_job_key(std::string_view bytes);
caf::expected<notification> decode_notification(std::string_view bytes);
caf::expected<envelope> decode_envelope(std::string_view bytes);
caf::expected<ack> decode_ack(std::string_view bytes);

} // namespace pulse::pool_codec
