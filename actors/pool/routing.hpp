#pragma once

/// Pure routing logic of worker pools (no I/O): the routing order of the
/// active workers and which one owns a key. Matches Go Pulse v1.6.5 §6.4 so keys route to
/// the same worker as in Go, with ties in creation time broken by ID.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pulse::pool_routing {

/// One active worker: its ID and creation time (Unix ns).
struct worker {
  /// The worker's ID.
  std::string id;
  /// The worker's creation time (Unix ns).
  int64_t created_at = 0;
};

/// Sorts workers into routing order: creation time, then ID.
void sort_routing_order(std::vector<worker>& xs);

/// The worker that owns `key`: `L[jump_hash(key, |L|)]`, or none if L is
/// empty.
std::optional<worker> owner(const std::vector<worker>& active,
                            const std::string& key);

/// Parses a signed 64-bit decimal (no sign-less garbage, no spaces).
std::optional<int64_t> parse_i64(const std::string& s);

/// A job's record, a value of `pulse:pool:{P}:jobs` written by the pool
/// scripts: `owner|epoch|state|node|dispatch_id`.
struct job_entry {
  /// The worker that owns the job.
  std::string owner;
  /// The owner's epoch for the job (decimal).
  std::string epoch;
  /// `r` (running) or `p` (pending: handed to the owner, not started).
  std::string state;
  /// The node that dispatched the job.
  std::string node;
  /// The dispatch's ID, without the suffix (a dot and a keep time in ms)
  /// that a dispatch waiting for more than its start carries.
  std::string dispatch_id;
};

/// Parses a job record; none when it has fewer than five fields (not
/// written by the pool scripts).
std::optional<job_entry> parse_job_entry(const std::string& rec);

} // namespace pulse::pool_routing
