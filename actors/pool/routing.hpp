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

} // namespace pulse::pool_routing
