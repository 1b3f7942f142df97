// Writes through a cluster gateway while the cluster changes under them,
// against real processes (tests/support/cluster_fixture.hpp): a slot
// migrated by hand (`ASK`, then `MOVED`) and a master failover (`MOVED` to
// the promoted replica); no acknowledged write is lost.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_gateway.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(redis_cluster)

BOOST_FIXTURE_TEST_CASE(slot_migration_during_writes_loses_nothing,
                        cluster_gateway_fixture) {
  // Keys of one slot (a shared hash tag) written without pause while the
  // slot moves from master 0 to master 2 (MIGRATE in batches of 100,
  // then SETSLOT NODE): new keys meet ASK, later MOVED.
  auto tag = key_on(0, "mig");
  auto slot = cluster::key_slot(tag);
  auto key = [&](int i) { return "{" + tag + "}:" + std::to_string(i); };
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::vector<std::string> errors;
  std::thread writer{[&] {
    client wc{*sys, gw, std::chrono::seconds{10}};
    for (int i = 0; !stop; ++i) {
      auto r = wc("SET", key(i), std::to_string(i));
      if (r)
        acked = i + 1;
      else
        errors.push_back(render(r.error()));
      if (!r)
        break;
    }
  }};
  BOOST_REQUIRE(wait_until([&] { return acked >= 300; }, 10s));
  auto moved = move_slot(slot, master_port(2));
  auto during = acked.load();
  BOOST_TEST(wait_until([&] { return acked >= during + 300; }, 10s));
  stop = true;
  writer.join();
  BOOST_REQUIRE_MESSAGE(moved.empty(), moved);
  BOOST_TEST(errors.empty(), (errors.empty() ? "" : errors.front()));
  BOOST_REQUIRE(wait_owner(slot, master_port(2)));
  auto n = acked.load();
  auto count = command_on(master_port(2),
                          {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)});
  BOOST_REQUIRE(count);
  BOOST_TEST(count->integer >= n);
  int missing = 0;
  for (int i = 0; i < n; ++i)
    if (get_on(master_port(2), key(i)) != std::to_string(i))
      ++missing;
  BOOST_TEST(missing == 0);
  BOOST_TEST_MESSAGE("acked writes " << n << ", " << during
                                     << " before the move finished");
}

BOOST_FIXTURE_TEST_CASE(master_failover_during_writes_loses_nothing,
                        cluster_gateway_fixture) {
  // `CLUSTER FAILOVER` on master 0's replica while keys of master 0's
  // slots are written: the old master answers MOVED to the new one.
  auto tag = key_on(0, "fo");
  auto slot = cluster::key_slot(tag);
  auto key = [&](int i) { return "{" + tag + "}:" + std::to_string(i); };
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  std::mutex mtx;
  std::set<int> ok;
  std::vector<std::string> errors;
  std::thread writer{[&] {
    client wc{*sys, gw, std::chrono::seconds{10}};
    for (int i = 0; !stop; ++i) {
      auto r = wc("SET", key(i), std::to_string(i));
      std::lock_guard<std::mutex> guard{mtx};
      if (r) {
        ok.insert(i);
        ++acked;
      } else {
        ++failed;
        errors.push_back(render(r.error()));
      }
    }
  }};
  BOOST_REQUIRE(wait_until([&] { return acked >= 300; }, 10s));
  auto replica = nodes[3]->port();
  auto fo = command_on(replica, {"CLUSTER", "FAILOVER"});
  BOOST_REQUIRE_MESSAGE(fo && !fo->is_error(), describe(fo));
  auto t0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE(wait_until([&] { return owner_port(slot, replica) == replica; },
                           10s));
  auto at = acked.load();
  BOOST_TEST(wait_until([&] { return acked >= at + 300; }, 15s));
  auto resumed = std::chrono::steady_clock::now();
  stop = true;
  writer.join();
  int missing = 0;
  for (auto i : ok)
    if (get_on(replica, key(i)) != std::to_string(i))
      ++missing;
  BOOST_TEST(missing == 0);
  BOOST_TEST_MESSAGE("failover: acked " << acked << ", failed " << failed
                     << (errors.empty() ? "" : " first: " + errors.front())
                     << ", 300 more acked "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                          resumed - t0)
                          .count()
                     << " ms after FAILOVER");
}

BOOST_AUTO_TEST_SUITE_END()
