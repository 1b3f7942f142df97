#pragma once

/// Bench helper: the two nodes of the pool benchmarks' shape, a node with
/// workers on one runtime and a client-only node (the dispatching
/// "process") on another, each with its own connections.

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::bench {

/// A pool's worker node and client-only node.
struct pool_nodes {
  std::unique_ptr<pool_node> workers;
  std::unique_ptr<pool_node> client;
};

/// Joins pool `pool` with a node on `workers` and a client-only node on
/// `client`, both with `opts`; prints the error and returns nothing if
/// either fails to join.
inline std::optional<pool_nodes> add_pool_nodes(services& workers,
                                                services& client,
                                                const std::string& pool,
                                                pool_options opts) {
  auto wn = pool_node::add_node(workers, pool, opts);
  opts.client_only = true;
  auto cn = pool_node::add_node(client, pool, opts);
  if (!wn || !cn) {
    std::fprintf(stderr, "add_node failed: %s\n",
                 render(wn ? cn.error() : wn.error()).c_str());
    return std::nullopt;
  }
  return pool_nodes{std::move(*wn), std::move(*cn)};
}

} // namespace pulse::bench
