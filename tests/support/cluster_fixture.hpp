#pragma once

/// A Redis Cluster for tests: 3 masters and 3 replicas (`pulse::
/// redis_server` with `cluster-enabled yes`), data and bus ports all free
/// loopback ports (`cluster-port`), built by hand as
/// `/work/shared/reference/production-redis.md` §4 describes: slots
/// 0-5460, 5461-10922 and 10923-16383 on masters 0, 1 and 2
/// (`CLUSTER ADDSLOTSRANGE`, distinct config epochs), `CLUSTER MEET`, then
/// replica i replicates master i (`CLUSTER REPLICATE`). Every wait is a
/// bounded poll; the destructor stops all six servers.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pulse/messages/options.hpp"
#include "pulse/runtime/redis_server.hpp"

namespace pulse::test {

/// Three masters with one replica each (see above).
struct cluster_fixture {
  /// Starts and joins the cluster and waits (up to 30 s) until every node
  /// says `cluster_state:ok` and every replica's link is up; throws
  /// `std::runtime_error` otherwise.
  cluster_fixture();
  ~cluster_fixture();

  /// Masters 0..2 (slot ranges in this order), then replicas 0..2.
  std::vector<std::unique_ptr<redis_server>> nodes;

  /// Port of master `i` (0..2).
  uint16_t master_port(size_t i) const { return nodes[i]->port(); }

  /// Node ID of the node on `port` (`CLUSTER MYID`), or "".
  std::string node_id(uint16_t port) const;

  /// Port of the master that owns `slot` according to node `ask_port`
  /// (`CLUSTER SLOTS`), or 0.
  uint16_t owner_port(uint16_t slot, uint16_t ask_port) const;

  /// Moves `slot` to the master on `to` the way `redis-cli --cluster
  /// reshard` does: `SETSLOT IMPORTING` on the target, `MIGRATING` on the
  /// source, `MIGRATE` of every key (`GETKEYSINSLOT`), then `SETSLOT NODE`
  /// on the target, the source and the other masters. `MIGRATE` moves
  /// `keys_per_migrate` keys at a time, `pause` apart (a slow migration).
  /// Returns "" or what went wrong.
  std::string move_slot(uint16_t slot, uint16_t to,
                        size_t keys_per_migrate = 100,
                        std::chrono::milliseconds pause
                        = std::chrono::milliseconds{0});

  /// Waits (up to `timeout`) until every master reports `to` as owner of
  /// `slot`.
  bool wait_owner(uint16_t slot, uint16_t to,
                  std::chrono::milliseconds timeout
                  = std::chrono::milliseconds{10000}) const;

  /// Options for cluster mode with master 0 as the seed (short test
  /// timeouts of `test_redis_options`).
  redis_options redis_opts() const;

  /// A key (`<prefix><n>`) whose slot master `i` owns in the initial
  /// layout.
  static std::string key_on(size_t i, const std::string& prefix = "k");
};

} // namespace pulse::test
