#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "pulse/actors/streaming/sink_group.hpp"

namespace pulse::sink_detail {

/// The body of a sink's janitor, a detached blocking actor beside each sink
/// instance. Every `idle_check` it tries to take Go Pulse's stale-consumer
/// lease `sink:<name>:stalelease` (`sink_lease_script`); while it holds it
/// (and the sink has subscribers) it copies events delivered
/// `max_deliveries` times to the dead-letter stream and acks them
/// (`XPENDING`, `XRANGE`, `XADD`, `XACK`), reclaims events idle for
/// `ack_grace` (`XAUTOCLAIM`) and hands them to the sink (`sk_reclaim_atom`),
/// and removes consumers whose keep-alive is missing or older than
/// 2 x grace after claiming their pending events (`XGROUP DELCONSUMER`,
/// rmap `del`/`remove`). Stops on `jn_stop_atom` or when the sink dies.
/// Errors are logged and counted in `shared->janitor_errors`.
void janitor_loop(caf::blocking_actor* self, caf::actor sink, gateway_actor gw,
                  sink_config cfg, std::shared_ptr<sink_shared> shared,
                  std::vector<std::string> streams);

} // namespace pulse::sink_detail
