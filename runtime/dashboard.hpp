#pragma once

/// The web dashboard served by the metrics endpoint (`GET /`): one static
/// page (HTML and JavaScript compiled into the library) that polls
/// `GET /api/state` every 2 s and shows streams, sinks (lag, pending, dead
/// letters), pools (nodes, workers, jobs) and maps, with one action:
/// redriving a sink's dead letters (`POST /api/redrive`).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

namespace pulse {

class runtime;
struct metrics_snapshot;

/// The dashboard page.
const std::string& dashboard_html();

/// Returns the JSON of `GET /api/state`: `render_json(snap)` plus
/// `dead_letters`, the length of each sink stream's default dead-letter
/// stream (`<stream>:dead-letter`; one `XLEN` each) and `jobs`, per pool
/// the number of jobs and up to 20 of their keys (`HLEN`, `HSCAN ... COUNT
/// 20`). Blocking calls: run it on the HTTP thread, never on a scheduler
/// thread.
std::string dashboard_state(runtime& rt, const metrics_snapshot& snap,
                            caf::timespan timeout);

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
