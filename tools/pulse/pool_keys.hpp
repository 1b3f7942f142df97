#pragma once

/// Reading a pool's keys for the `pulse` tool (docs/protocol.md, every key
/// under `pulse:pool:{P}:`): the pool check shared by every pool
/// subcommand, and a job's delayed entry (`delayed`, `delayed_payloads`)
/// and kept outcome (`result:<key>`).

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "session.hpp"

namespace pulse::cli {

/// Returns pool `name`'s key prefix (`pulse:pool:{name}:`). Throws
/// `cli_error` for an invalid name or a pool without any of the keys
/// `alive`, `workers`, `jobs`, `mrev`, `delayed`, `dead` (`EXISTS`).
std::string checked_pool_prefix(session& s, const std::string& name);

/// A job waiting in the pool's delayed set.
struct delayed_job {
  /// The job key.
  std::string key;
  /// When it is due, Unix milliseconds on Redis' clock.
  int64_t due_ms = 0;
  /// The payload's size in bytes.
  int64_t payload_bytes = 0;
};

/// A job's kept outcome (`result:<key>`: `1<result>` or `0<error>`).
struct kept_result {
  /// Whether the job succeeded (`1`).
  bool ok = false;
  /// The result, or the error text.
  std::string text;
  /// Milliseconds until Redis drops it (`PTTL`; -1: no expiry).
  int64_t expires_in_ms = -1;
};

/// Reads job `key`'s delayed entry, if any (`ZSCORE delayed`, `HSTRLEN
/// delayed_payloads`).
std::optional<delayed_job> read_delayed(session& s, const std::string& prefix,
                                        const std::string& key);

/// Reads job `key`'s kept outcome, if any (`GET`, `PTTL result:<key>`).
std::optional<kept_result> read_result(session& s, const std::string& prefix,
                                       const std::string& key);

/// `{"key","due_ms","due_in_ms","payload_bytes"}`.
nlohmann::json to_json(const delayed_job& d, int64_t now_ms);

/// `{"ok","result","expires_in_ms"}`.
nlohmann::json to_json(const kept_result& r);

/// "in 4.0s" for a future time, "overdue 1.2s" for a past one.
std::string due_text(int64_t due_ms, int64_t now_ms);

} // namespace pulse::cli
