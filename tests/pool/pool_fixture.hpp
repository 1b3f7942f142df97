#pragma once

/// The fixture of the `pool` suite of pool_test (pool_test.cpp,
/// pool_membership_test.cpp, pool_recovery_test.cpp, pool_ticker_test.cpp):
/// pool nodes with short timeouts in one process, whose workers record
/// into one journal.

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "tests/pool/recorder.hpp"
#include "tests/support/fixtures.hpp"

namespace pulse::test {

/// Pool options with short leases, grace periods and delays.
inline pool_options fast_options() {
  pool_options o;
  o.worker_ttl = 600ms;
  o.ack_grace_period = 500ms;
  o.job_sink_block_duration = 100ms;
  o.worker_shutdown_ttl = 1s;
  o.requeue_delay = 50ms;
  return o;
}

/// An actor system and a Redis server, with helpers to add pool nodes and
/// workers that record into `log`.
struct pool_fixture : actor_fixture {
  /// What every recorder of the test started, stopped and was notified of.
  std::shared_ptr<journal> log = std::make_shared<journal>();

  /// Adds a node of pool `pool` with options `o`.
  std::unique_ptr<pool_node> node(pool_options o = fast_options(),
                                  const std::string& pool = "p") {
    auto n = pool_node::add_node(*rt, pool, o);
    BOOST_REQUIRE_MESSAGE(n, describe(n));
    return std::move(*n);
  }

  /// Adds a worker to node `n` with handler `h` (a recorder into `log` if
  /// null) and returns its ID.
  std::string worker(pool_node& n, std::shared_ptr<recorder> h = nullptr) {
    if (!h)
      h = std::make_shared<recorder>(log);
    auto id = n.add_worker(h);
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    return *id;
  }

  /// Returns `xs` separated by spaces (for messages).
  static std::string joined(const std::vector<std::string>& xs) {
    std::string out;
    for (auto& x : xs)
      out += x + " ";
    return out;
  }

  /// Every key of the pool in Redis.
  std::vector<std::string> pool_keys(const std::string& pool = "p") {
    auto r = redis()("KEYS", pool_scripts::pool_prefix(pool) + "*");
    std::vector<std::string> out;
    if (r)
      for (auto& x : r->elements)
        out.push_back(x.str);
    return out;
  }
};

} // namespace pulse::test
