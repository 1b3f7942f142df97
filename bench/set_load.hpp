#pragma once

/// Pipelined SET load from event-based actors, shared by the gateway, TLS
/// and cluster benchmarks.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include "pulse/messages/redis.hpp"

namespace pulse::bench {

/// `(load_go_atom) -> bool` starts a load actor.
using load_go_atom = caf::atom_constant<caf::atom("ld_go")>;

/// Sends `n` requests to `gw` keeping `window` in flight: `SET
/// <prefix><i % 1000> <value>` (`cmd_atom`), or, with `batch_size > 0`, `n`
/// batches (`batch_atom`) of `batch_size` such SETs. Answers `load_go_atom`
/// with true once every reply arrived, false at the first failure (an
/// error reply included).
caf::behavior set_load_actor(caf::event_based_actor* self, gateway_actor gw,
                             size_t n, size_t window, std::string prefix,
                             std::shared_ptr<const std::string> value,
                             size_t batch_size);

/// SETs per second of `total` SETs through `gw` from `actors` load actors
/// (`set_load_actor`, keys `k<actor>:<i % 1000>`), each keeping `window`
/// requests in flight, with values of `value_bytes` bytes and, when
/// `batch_size > 0`, `batch_size` SETs per request. Returns -1 when a
/// request failed or no actor answered for `stall`.
double set_load(caf::actor_system& sys, const gateway_actor& gw,
                size_t total, size_t actors, size_t window,
                size_t value_bytes = 1, size_t batch_size = 0,
                caf::timespan stall = std::chrono::seconds{120});

} // namespace pulse::bench
