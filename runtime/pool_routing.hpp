#pragma once

/// Pure routing logic of worker pools (no I/O): which workers are active
/// and which one owns a key. Matches Go Pulse v1.6.5 §6.4 so keys route to
/// the same worker as in Go, with ties in creation time broken by ID.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pulse::pool_routing {

/// One active worker: its ID and creation time (Unix ns).
struct worker {
  std::string id;
  int64_t created_at = 0;
};

/// Builds the ordered list L of active workers from the pool's maps:
/// 1. every entry of `workers` (ID -> creation ns);
/// 2. minus entries whose value is `-` (being removed);
/// 3. minus entries with a fresh cleanup lock (`cleanup[ID]` parses and is
///    at most `ttl_ns` old; an unparseable lock excludes nothing);
/// 4. minus entries whose value is not a signed 64-bit decimal;
/// 5. sorted by creation time, then ID;
/// 6. keeping only workers whose keep-alive parses and is at most
///    `ttl_ns` old.
std::vector<worker> active_workers(const std::map<std::string, std::string>& workers,
                                   const std::map<std::string, std::string>& keepalives,
                                   const std::map<std::string, std::string>& cleanup,
                                   int64_t now_ns, int64_t ttl_ns);

/// Sorts workers into routing order: creation time, then ID.
void sort_routing_order(std::vector<worker>& xs);

/// The worker that owns `key`: `L[jump_hash(key, |L|)]`, or none if L is
/// empty.
std::optional<worker> owner(const std::vector<worker>& active,
                            const std::string& key);

/// Parses a signed 64-bit decimal (no sign-less garbage, no spaces).
std::optional<int64_t> parse_i64(const std::string& s);

} // namespace pulse::pool_routing
