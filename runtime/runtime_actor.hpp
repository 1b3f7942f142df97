#pragma once

#include "pulse/actors/redis/services.hpp"
#include "pulse/messages/runtime.hpp"

namespace pulse {

/// Spawns the runtime actor over `svc` (see `runtime_actor`). The runtime
/// spawns one at start (`runtime::actor()`); `svc` must outlive it.
runtime_actor spawn_runtime_actor(services& svc);

} // namespace pulse
