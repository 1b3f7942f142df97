// The cluster router against seeds that never answer (no cluster needed):
// failed topology refreshes back off (`reconnect-min` doubling up to
// `reconnect-max`) instead of one per request, and the gateways of the dead
// seeds are closed after each failed refresh instead of reconnecting
// forever.

#include <boost/test/unit_test.hpp>

#include <chrono>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_router.hpp"
#include "pulse/runtime/config.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(redis_cluster_router)

BOOST_AUTO_TEST_CASE(refreshes_against_dead_seeds_back_off) {
  pulse::config cfg;
  cfg.set("scheduler.max-threads", 2);
  std::optional<caf::actor_system> sys{std::in_place, cfg};
  // Ports 1 and 2 on loopback: refused at once.
  auto o = test_redis_options(1); // reconnect 20 ms .. 200 ms
  o.cluster = true;
  o.cluster_nodes = {"127.0.0.1:2"};
  auto gw = spawn_cluster_gateway(*sys, o);
  size_t failed = 0;
  {
    client c{*sys, gw, 2s};
    auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < 1s)
      if (!c("PING"))
        ++failed;
  }
  gateway_stats st;
  {
    caf::scoped_actor self{*sys};
    self->request(gw, 5s, stats_atom::value)
      .receive([&](gateway_stats& x) { st = x; }, [](caf::error&) {});
    self->send_exit(gw, caf::exit_reason::user_shutdown);
  }
  BOOST_TEST_MESSAGE("1 s against dead seeds: " << failed
                     << " requests failed, " << st.cluster_refresh_failures
                     << " refreshes failed, " << st.cluster_nodes_dropped
                     << " seed gateways closed, " << st.cluster_nodes
                     << " held");
  BOOST_TEST(failed >= 1u);
  // 0, 20, 60, 140, 300, 500, ... ms: about 8 in the second (one per
  // request, hundreds, without the back-off).
  BOOST_TEST(st.cluster_refresh_failures >= 2u);
  BOOST_TEST(st.cluster_refresh_failures <= 12u);
  // Each failed refresh closed both seeds' gateways.
  BOOST_TEST(st.cluster_nodes_dropped >= 2 * st.cluster_refresh_failures - 2);
  BOOST_TEST(st.cluster_nodes == 0u);
  gw = nullptr; // a live handle keeps the detached router's thread
  sys.reset();
}

BOOST_AUTO_TEST_SUITE_END()
