#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/pool.hpp"
#include "pulse/actors/pool/core.hpp"

namespace pulse {

class services;


/// Spawns a distributed ticker `name` of pool `core->pool`: every `period`
/// exactly one node of the pool (the one whose `ticker_fire` wins the
/// compare-and-set on Redis time) sends `(tick_atom, name, unix_ms)` to its
/// `receiver`. Ticks are requests: while the receiver has not replied,
/// further ticks won here coalesce into one (never lost, never queued
/// without bound). A ticker joining an existing entry with the same period
/// adopts its schedule; another period replaces it. `first_tick` (default:
/// one period) applies when the entry is created. The ticker exits when
/// the entry is deleted (`ticker_stop_atom` on any node, pool shutdown).
/// Redis errors are logged and retried after `min(period, 1 s)`.
caf::expected<ticker_actor> spawn_ticker(services& rt, pool_core_ptr core,
                                       std::string name, caf::timespan period,
                                       tick_receiver_actor receiver,
                                       caf::timespan first_tick
                                       = caf::timespan{-1});

} // namespace pulse
