#pragma once

/// A pool's dead set read and steered through a blocking client (or, with
/// `parse_list` and `add_step`, by an actor's own requests): the
/// `dead_jobs`, `redrive` and `purge_dead` scripts (scripts_retry.cpp) with
/// their replies parsed. Shared by the pool node (node_dead.cpp), the
/// `pulse dead-jobs` command and the dashboard, so none of them parses the
/// dead set on its own.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "pulse/messages/pool.hpp"
#include "pulse/messages/resp.hpp"

namespace pulse {

class client;

namespace pool_dead_set {

/// Returns the oldest `limit` dead jobs of the pool whose key prefix is
/// `prefix` (`pool_scripts::pool_prefix`), oldest first, with payload and
/// failure history (`dead_jobs` script: `ZRANGE dead`, `HGET dead_payloads`,
/// `HGET dead_info`). `limit == 0` returns none without a call. Errors: the
/// gateway's (`errc::redis_error`, timeouts, lost connection).
caf::expected<std::vector<dead_job>> list(client& cli,
                                          const std::string& prefix,
                                          uint64_t limit);

/// What `redrive` and `purge` did.
struct outcome {
  /// Dead jobs moved back (redrive) or deleted (purge).
  uint64_t done = 0;
  /// Dead jobs left in the set afterwards (`ZCARD dead`).
  uint64_t left = 0;
};

/// Moves dead jobs back into the pool, due at once with their attempts
/// reset (`redrive` script): the keys named, or, when `keys` is empty,
/// every dead job (the script takes 1000 per call; repeated while it moves
/// some and some are left). A key that is not dead, or that is pending,
/// running or delayed again, is skipped. Errors: the gateway's, or
/// `errc::redis_error` for a reply of the wrong shape.
caf::expected<outcome> redrive(client& cli, const std::string& prefix,
                               const std::vector<std::string>& keys);

/// Deletes dead jobs (`purge_dead` script: `ZREM dead`, `HDEL
/// dead_payloads`, `HDEL dead_info`): the keys named, or all when `keys` is
/// empty (repeated like `redrive`). Errors: as `redrive`.
caf::expected<outcome> purge(client& cli, const std::string& prefix,
                             const std::vector<std::string>& keys);

/// Parses a `dead_jobs` script reply `r` (the jobs, oldest first).
std::vector<dead_job> parse_list(resp::value& r);

/// Adds one `redrive` or `purge_dead` script reply `r` to `total`; returns
/// whether to call the script again (no `keys` were named, it made
/// progress and dead jobs are left). Errors: `errc::redis_error` for a
/// reply of the wrong shape.
caf::expected<bool> add_step(const resp::value& r, bool keys_named,
                             outcome& total);

/// Returns how many jobs the dead set holds (`ZCARD dead`). Errors: the
/// gateway's.
caf::expected<uint64_t> count(client& cli, const std::string& prefix);

} // namespace pool_dead_set

} // namespace pulse
