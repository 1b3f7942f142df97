// Map propagation delay on a live system: this process' own `set` writes
// (through the facade and through the replica's `map_write` message) are
// timed to their replica's apply; writes of another replica and other
// operations are not; `/metrics` shows the histogram summed per map.

#include <chrono>
#include <string>

#include <boost/test/unit_test.hpp>

#include "tests/metrics/live_system.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

replica_stats stats_of(caf::scoped_actor& self, const replica_actor& r) {
  replica_stats out;
  self->request(r, 5s, stats_atom::value)
    .receive([&](const replica_stats& x) { out = x; },
             [&](caf::error& e) {
               BOOST_FAIL("replica stats: " << render(e));
             });
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(map_propagation)

BOOST_FIXTURE_TEST_CASE(own_sets_are_timed_to_the_apply, live_system) {
  auto& self = *this->self;
  auto replica = map->replica();
  // The fixture made 3 sets through the facade.
  BOOST_REQUIRE(wait_until(
    [&] { return stats_of(self, replica).propagation.count == 3; }, 10s));
  auto st = stats_of(self, replica);
  BOOST_TEST(st.propagation_unmatched == 0u);
  BOOST_TEST(st.propagation.sum > 0.0);
  BOOST_TEST(st.propagation.sum < 30.0);
  // Another replica of the same map in this process writes: its writes are
  // applied here too, but timed only by the writer's replica.
  auto other = rmap::map::join(*rt, "config");
  BOOST_REQUIRE_MESSAGE(other, describe(other));
  BOOST_REQUIRE((*other)->set_and_wait("d", "v"));
  auto other_rev = stats_of(self, (*other)->replica()).rev;
  BOOST_REQUIRE(wait_until(
    [&] { return stats_of(self, replica).rev >= other_rev; }, 10s));
  BOOST_TEST(stats_of(self, replica).propagation.count == 3u);
  BOOST_TEST(stats_of(self, (*other)->replica()).propagation.count == 1u);
  // The message form: a set through the replica actor is timed.
  self->request(replica, 5s, map_write_atom::value,
                map_write{map_op::set, "e", {"v"}})
    .receive([](const map_write_result& r) { BOOST_TEST(r.rev > 0u); },
             [](caf::error& e) { BOOST_FAIL("map_write: " << render(e)); });
  BOOST_TEST(wait_until(
    [&] { return stats_of(self, replica).propagation.count == 4; }, 10s));
  // Other operations do not name their revision: not timed, not unmatched.
  BOOST_REQUIRE(map->del("a"));
  BOOST_REQUIRE(map->inc("n", 1));
  auto rev_now = stats_of(self, replica).rev;
  BOOST_REQUIRE(map->set_and_wait("f", "v")); // a later, timed write
  BOOST_TEST(stats_of(self, replica).rev > rev_now);
  BOOST_TEST(wait_until(
    [&] { return stats_of(self, replica).propagation.count == 5; }, 10s));
  BOOST_TEST(stats_of(self, replica).propagation_unmatched == 0u);
  // /metrics adds up the replicas of the map: 5 + 1.
  auto text = http_get(port(), "/metrics").body;
  auto v = [&](const std::string& series) {
    return sample_value(text, series).value_or("<none>");
  };
  BOOST_TEST(v("pulse_map_propagation_seconds_count{map=\"config\"}") == "6");
  BOOST_TEST(v("pulse_map_propagation_seconds_bucket{map=\"config\","
               "le=\"+Inf\"}")
             == "6");
  BOOST_TEST(v("pulse_map_propagation_unmatched_total{map=\"config\"}")
             == "0");
  BOOST_TEST(std::stod(v("pulse_map_propagation_seconds_sum{map=\"config\"}"))
             > 0.0);
  (*other)->close();
}

BOOST_AUTO_TEST_SUITE_END()
