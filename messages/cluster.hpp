#pragma once

/// Messages of the Redis Cluster router (`actors/redis/cluster_router.hpp`)
/// to itself, and the interface its behaviour is checked against. Internal:
/// everyone else sees the router as a `gateway_actor`.

#include <cstdint>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "pulse/messages/redis.hpp"

namespace pulse {

/// `(cluster_rtick_atom)`: the cluster router's refresh back-off elapsed.
using cluster_rtick_atom = caf::atom_constant<caf::atom("cl_rtick")>;

/// `(cluster_later_atom, id)`: the cluster router's delayed retry `id` is
/// due (a request that got `TRYAGAIN`).
using cluster_later_atom = caf::atom_constant<caf::atom("cl_later")>;

/// The Redis Cluster router (`spawn_cluster_gateway`): the gateway
/// interface plus its own timers.
using cluster_router_actor
  = gateway_actor::extend<caf::reacts_to<cluster_rtick_atom>,
                          caf::reacts_to<cluster_later_atom, uint64_t>>;

} // namespace pulse
