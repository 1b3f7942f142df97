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

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_gateway.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// Writes `SET {tag}:i i` for i = 0, 1, ... through `gw`, one at a time on
/// a thread of its own, until `stop` (or, with `stop_at_error`, the first
/// error); keeps which writes were acknowledged and every error.
class key_writer {
public:
  key_writer(caf::actor_system& sys, gateway_actor gw, std::string tag,
             bool stop_at_error)
    : tag_(std::move(tag)) {
    thread_ = std::thread{[this, &sys, gw, stop_at_error] {
      client wc{sys, gw, std::chrono::seconds{10}};
      for (int i = 0; !stop_; ++i) {
        auto r = wc("SET", key(i), std::to_string(i));
        std::lock_guard<std::mutex> guard{mtx_};
        if (r) {
          ok_.insert(i);
          ++acked_;
        } else {
          errors_.push_back(render(r.error()));
          if (stop_at_error)
            break;
        }
      }
    }};
  }

  ~key_writer() {
    stop();
  }

  /// The key of write `i`.
  std::string key(int i) const {
    return "{" + tag_ + "}:" + std::to_string(i);
  }

  /// How many writes were acknowledged so far.
  int acked() const {
    return acked_;
  }

  /// Ends the writes and waits for the thread.
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  /// The acknowledged writes (after `stop`).
  const std::set<int>& ok() const {
    return ok_;
  }

  /// The errors, in order (after `stop`).
  const std::vector<std::string>& errors() const {
    return errors_;
  }

private:
  std::string tag_;
  std::atomic<bool> stop_{false};
  std::atomic<int> acked_{0};
  std::mutex mtx_;
  std::set<int> ok_;
  std::vector<std::string> errors_;
  std::thread thread_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(redis_cluster)

BOOST_FIXTURE_TEST_CASE(slot_migration_during_writes_loses_nothing,
                        cluster_gateway_fixture) {
  // Keys of one slot (a shared hash tag) written without pause while the
  // slot moves from master 0 to master 2 (MIGRATE in batches of 100,
  // then SETSLOT NODE): new keys meet ASK, later MOVED.
  auto tag = key_on(0, "mig");
  auto slot = cluster::key_slot(tag);
  key_writer w{*sys, gw, tag, true};
  BOOST_REQUIRE(wait_until([&] { return w.acked() >= 300; }, 10s));
  auto moved = move_slot(slot, master_port(2));
  auto during = w.acked();
  BOOST_TEST(wait_until([&] { return w.acked() >= during + 300; }, 10s));
  w.stop();
  BOOST_REQUIRE_MESSAGE(moved.empty(), moved);
  BOOST_TEST(w.errors().empty(),
             (w.errors().empty() ? "" : w.errors().front()));
  BOOST_REQUIRE(wait_owner(slot, master_port(2)));
  auto n = w.acked();
  auto count = command_on(master_port(2),
                          {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)});
  BOOST_REQUIRE(count);
  BOOST_TEST(count->integer >= n);
  int missing = 0;
  for (auto i : w.ok())
    if (get_on(master_port(2), w.key(i)) != std::to_string(i))
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
  key_writer w{*sys, gw, tag, false};
  BOOST_REQUIRE(wait_until([&] { return w.acked() >= 300; }, 10s));
  auto replica = nodes[3]->port();
  auto fo = command_on(replica, {"CLUSTER", "FAILOVER"});
  BOOST_REQUIRE_MESSAGE(fo && !fo->is_error(), describe(fo));
  auto t0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE(wait_until([&] { return owner_port(slot, replica) == replica; },
                           10s));
  auto at = w.acked();
  BOOST_TEST(wait_until([&] { return w.acked() >= at + 300; }, 15s));
  auto resumed = std::chrono::steady_clock::now();
  w.stop();
  int missing = 0;
  for (auto i : w.ok())
    if (get_on(replica, w.key(i)) != std::to_string(i))
      ++missing;
  BOOST_TEST(missing == 0);
  auto& errors = w.errors();
  BOOST_TEST_MESSAGE("failover: acked " << w.acked() << ", failed "
                     << errors.size()
                     << (errors.empty() ? "" : " first: " + errors.front())
                     << ", 300 more acked "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                          resumed - t0)
                          .count()
                     << " ms after FAILOVER");
}

BOOST_AUTO_TEST_SUITE_END()
