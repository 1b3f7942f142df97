#pragma once

/// A Redis Sentinel setup for tests (`tests/redis/sentinel_test.cpp`): one
/// master and one replica or more (`pulse::redis_server`, replicas started
/// with `--replicaof`) and three `redis-sentinel` processes, all on free
/// loopback ports, with the short timings of
/// `/work/shared/reference/production-redis.md` §3 (down-after 1000 ms,
/// failover-timeout 5000 ms, quorum 2). Each sentinel config names the
/// replica (`sentinel known-replica`), so a failover is possible as soon as
/// the sentinels found each other (about 2 s), not after the first 10 s
/// `INFO` poll.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/messages/options.hpp"
#include "pulse/messages/resp.hpp"
#include "pulse/runtime/redis_server.hpp"

namespace pulse::test {

/// One `redis-sentinel` process in its own temporary directory (its config
/// file must be writable: Sentinel rewrites it).
class sentinel_process {
public:
  /// Starts `redis-sentinel` monitoring `name` at 127.0.0.1:`master`
  /// (with the replicas on `replicas`) and waits (up to 10 s) for `PING`.
  static caf::expected<std::unique_ptr<sentinel_process>>
  start(const std::string& name, uint16_t master,
        std::vector<uint16_t> replicas);

  ~sentinel_process();

  sentinel_process(const sentinel_process&) = delete;
  sentinel_process& operator=(const sentinel_process&) = delete;

  /// Its port.
  uint16_t port() const noexcept { return port_; }

  /// Stops it (SIGTERM, then SIGKILL after 5 s) and reaps it.
  void stop();

private:
  sentinel_process() = default;

  uint16_t port_ = 0;
  std::string dir_;
  pid_t pid_ = -1;
};

/// Sends one command to 127.0.0.1:`port` and returns the reply (an error
/// reply is a value), within `timeout`.
caf::expected<resp::value> command_on(uint16_t port,
                                      std::vector<std::string> args,
                                      std::chrono::milliseconds timeout
                                      = std::chrono::milliseconds{2000});

/// Master, replica and three sentinels (see above).
struct sentinel_fixture {
  /// Starts everything (with `replicas` replicas, at least 1); throws when
  /// a process does not start.
  explicit sentinel_fixture(int replicas = 1);
  ~sentinel_fixture();

  /// The monitored master's name.
  std::string name = "pulsemaster";
  std::unique_ptr<redis_server> master;
  /// The first replica.
  std::unique_ptr<redis_server> replica;
  /// The other replicas.
  std::vector<std::unique_ptr<redis_server>> more_replicas;

  /// Returns whether `port` is one of the replicas' ports.
  bool is_replica_port(uint16_t port) const;
  std::vector<std::unique_ptr<sentinel_process>> sentinels;

  /// Options naming the three sentinels and `name`, with the short test
  /// timeouts of `test_redis_options`.
  redis_options redis_opts() const;

  /// Waits (up to `timeout`) until a failover can run: the replica's link
  /// is up, every sentinel knows the replica and the two other sentinels,
  /// and `SENTINEL CKQUORUM` says OK.
  bool wait_ready(std::chrono::milliseconds timeout
                  = std::chrono::milliseconds{30000});

  /// The master port the first answering sentinel names (0: none).
  uint16_t master_port();

  /// Runs `SENTINEL FAILOVER <name>` on the first sentinel and returns its
  /// reply text (`OK` on success).
  std::string failover();
};

} // namespace pulse::test
