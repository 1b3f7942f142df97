#pragma once

/// A runtime in Redis Cluster mode for tests (`test_runtime` on a
/// `redis_options` with `cluster = true`).

#include "tests/support/test_runtime.hpp"

namespace pulse::test {

/// See `test_runtime`.
using cluster_runtime = test_runtime;

} // namespace pulse::test
