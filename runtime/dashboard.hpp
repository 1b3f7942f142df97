#pragma once

/// The web dashboard served by the metrics endpoint (`GET /`): one static
/// page (HTML and JavaScript compiled into the library) that polls
/// `GET /api/state` every 2 s and shows streams, sinks (lag, pending, dead
/// letters), pools (nodes, workers, jobs, delayed jobs, kept results) and
/// maps, with these actions: redriving a sink's dead letters
/// (`POST /api/redrive`), stopping a job (`POST /api/stop`), and redriving
/// or purging a pool's dead jobs (`POST /api/dead-jobs/redrive`,
/// `POST /api/dead-jobs/purge`).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "pulse/actors/pool/dead_set.hpp"

namespace pulse {

class client;
class runtime;
struct metrics_snapshot;

/// How many of a pool's oldest dead jobs the dashboard lists.
constexpr uint64_t dashboard_dead_shown = 5;

/// The dashboard page.
const std::string& dashboard_html();

/// Returns `x` as a JSON string literal for the dashboard's state (quotes
/// and backslashes escaped, control characters dropped).
std::string dashboard_quote(const std::string& x);

/// Returns the JSON of `GET /api/state`: `render_json(snap)` plus
/// `dead_letters`, the length of each sink stream's default dead-letter
/// stream (`<stream>:dead-letter`; one `XLEN` each) and `jobs`, per pool
/// `dashboard_pools`. Blocking calls: run it on the HTTP thread, never on a
/// scheduler thread.
std::string dashboard_state(runtime& rt, const metrics_snapshot& snap,
                            caf::timespan timeout);

/// Returns `"<pool>":{...}` for every pool with a node in `snap`: `count`
/// and up to 20 `keys` of its jobs (`HLEN`, `HSCAN ... COUNT 20`),
/// `delayed` jobs and `next_due_in_ms` on Redis' clock (`ZCARD`, `ZRANGE
/// delayed 0 0 WITHSCORES`, `TIME`; null when none), `results` kept
/// (`SCAN MATCH <prefix>result:*` on every master, at most 20 rounds of
/// `COUNT 1000` each; `results_complete` false when the count is a lower
/// bound) and
/// `workers` (at most 100: `HGETALL workers`, `HGETALL info`, `SCARD
/// owned:<W>`, `LLEN q:<W>`) with id, name, node, node name, jobs and queue
/// depth; and the dead set (`dashboard_dead_view`). Replies that failed
/// show as -1. Blocking (HTTP thread).
std::string dashboard_pools(runtime& rt, const metrics_snapshot& snap,
                            caf::timespan timeout);

/// Stops job `key` of `pool` wherever it runs and forgets it: the pool's
/// `stop` script, like `pool_node::stop_job` and `pulse job stop`. Blocking
/// (HTTP thread). Errors: `errc::invalid_argument` (bad pool name, no
/// key), `errc::not_found` (no such job), Redis and gateway errors.
caf::error stop_pool_job(runtime& rt, const std::string& pool,
                         const std::string& key, caf::timespan timeout);

/// Returns `"dead":N,"dead_jobs":[...]` for `pool`: the size of its dead
/// set and its oldest `dashboard_dead_shown` jobs with key, attempts,
/// `died_ms` and the last `error` (`pool_dead_set::count` and `list`:
/// `ZCARD dead`, the `dead_jobs` script). `dead` is -1 when Redis failed.
/// Blocking (HTTP thread).
std::string dashboard_dead_view(client& c, const std::string& pool);

/// Redrives (`purge == false`) or purges pool `pool`'s dead job `key`, or
/// every dead job when `key` is empty (`pool_dead_set::redrive` or
/// `purge`: the pool's `redrive` and `purge_dead` scripts, like
/// `pool_node::redrive` and `pulse dead-jobs <p> redrive`). Blocking (HTTP
/// thread). Errors: `errc::invalid_argument` (bad pool name), Redis and
/// gateway errors.
caf::expected<pool_dead_set::outcome>
steer_dead_jobs(runtime& rt, const std::string& pool, const std::string& key,
                bool purge, caf::timespan timeout);

/// Moves every entry of the default dead-letter streams of `streams`
/// (comma-separated) back into their source streams
/// (`dead_letters::redrive`, trimming to `[pulse.streaming]
/// stream-max-len`) and returns how many moved. Blocking (HTTP thread).
/// Errors: `errc::invalid_argument` (no or bad stream name), Redis and
/// gateway errors.
caf::expected<uint64_t> redrive_dead_letters(runtime& rt,
                                             const std::string& streams,
                                             caf::timespan timeout);

} // namespace pulse
