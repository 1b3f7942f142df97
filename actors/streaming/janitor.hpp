#pragma once

/// Internal to the sink: its janitor.
///
/// Every `idle_check` a sink instance's janitor tries to take Go Pulse's
/// stale-consumer lease `sink:<name>:stalelease` (`sink_lease_script`);
/// while it holds it (and the sink has subscribers) it copies events
/// delivered `max_deliveries` times to the dead-letter stream and acks them
/// (`XPENDING`, `XCLAIM`, `XADD`, `XACK`), reclaims events idle for
/// `ack_grace` (`XAUTOCLAIM`) and hands them to the sink (`sk_reclaim_atom`),
/// removes consumers whose keep-alive is missing or older than 2 x grace
/// after claiming their pending events (`XGROUP DELCONSUMER`, rmap
/// `del`/`remove`), and every tenth check looks for events trimmed unread
/// (`XINFO STREAM`, `XINFO GROUPS`). Errors are logged and counted in
/// `shared->janitor_errors`.
///
/// Threads: the janitor itself (`janitor_actor`) is a scheduled actor that
/// only keeps time. Its checks make blocking round trips, so they run on the
/// process's janitor host (`janitor_host_actor`): one detached actor per
/// actor system, shared by every sink, running one check at a time. The host
/// is spawned with the first janitor and stops after the last one.

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "pulse/actors/streaming/sink_group.hpp"
#include "pulse/messages/streaming.hpp"

namespace pulse::sink_detail {

/// Makes the janitor work of one sink instance: `sink` receives reclaimed
/// events, `gw` runs the Redis commands.
janitor_job_ptr make_janitor_job(caf::actor sink, gateway_actor gw,
                                 sink_config cfg,
                                 std::shared_ptr<sink_shared> shared);

/// Whether a check has anything to do (the sink has subscribers).
bool janitor_due(const janitor_job& job);

/// Time between two checks (`idle_check`).
caf::timespan janitor_interval(const janitor_job& job);

/// Runs one check of `job` over `streams` on the host's thread `self`
/// (blocking requests to the gateway and to the sink).
void run_janitor_check(caf::blocking_actor* self, janitor_job& job,
                       std::vector<std::string> streams);

/// Spawns the janitor of sink instance `sink` (a scheduled actor) and, if
/// this actor system has none, the janitor host. The janitor stops on
/// `jn_stop_atom` or when the sink dies.
janitor_actor spawn_janitor(caf::actor_system& sys, caf::actor sink,
                            gateway_actor gw, sink_config cfg,
                            std::shared_ptr<sink_shared> shared,
                            std::vector<std::string> streams);

} // namespace pulse::sink_detail
