// Unit tests of the map propagation probe (actors/rmap/propagation.hpp):
// own writes matched with the apply of their revision in either order,
// and every case that cannot be matched counted instead of guessed.

#include <chrono>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "pulse/actors/rmap/propagation.hpp"

using namespace pulse;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(propagation_probe_unit)

BOOST_AUTO_TEST_CASE(applies_are_not_timed_before_the_first_write) {
  propagation_probe p;
  p.applied(1); // inactive: nothing remembered
  p.answered(1, propagation_probe::clock::now());
  // Revision 1 was not remembered, and is not above the last apply seen
  // (none): it waits for an apply that never comes again.
  BOOST_TEST(p.delays().count == 0u);
}

BOOST_AUTO_TEST_CASE(reply_before_apply_is_timed_at_the_apply) {
  propagation_probe p;
  auto at = p.sent();
  p.answered(5, at);
  BOOST_TEST(p.delays().count == 0u);
  std::this_thread::sleep_for(2ms);
  p.applied(5);
  auto after = propagation_probe::clock::now();
  auto h = p.delays();
  BOOST_TEST(h.count == 1u);
  BOOST_TEST(h.sum >= 0.002);
  BOOST_TEST(h.sum <= std::chrono::duration<double>(after - at).count());
  BOOST_TEST(p.unmatched() == 0u);
}

BOOST_AUTO_TEST_CASE(apply_before_reply_is_found_in_the_ring) {
  propagation_probe p;
  auto at = p.sent();
  std::this_thread::sleep_for(2ms);
  p.applied(7);
  auto after = propagation_probe::clock::now();
  std::this_thread::sleep_for(20ms); // the reply's delay must not count
  p.answered(7, at);
  auto h = p.delays();
  BOOST_TEST(h.count == 1u);
  BOOST_TEST(h.sum >= 0.002);
  BOOST_TEST(h.sum <= std::chrono::duration<double>(after - at).count());
  BOOST_TEST(p.unmatched() == 0u);
}

BOOST_AUTO_TEST_CASE(others_writes_are_not_observed) {
  propagation_probe p;
  auto at = p.sent();
  p.applied(1); // someone else's revisions
  p.applied(2);
  p.answered(3, at);
  p.applied(3);
  p.applied(4);
  BOOST_TEST(p.delays().count == 1u);
  BOOST_TEST(p.unmatched() == 0u);
}

BOOST_AUTO_TEST_CASE(revision_skipped_by_a_snapshot_is_unmatched) {
  propagation_probe p;
  auto at = p.sent();
  p.applied(10);
  p.answered(12, at);
  p.answered(15, at);
  p.applied(14); // 11..13 came through a resync
  BOOST_TEST(p.unmatched() == 1u);
  p.applied(15);
  BOOST_TEST(p.delays().count == 1u);
}

BOOST_AUTO_TEST_CASE(apply_older_than_the_ring_is_unmatched) {
  propagation_probe p;
  auto at = p.sent();
  for (uint64_t r = 1; r <= propagation_probe::ring_size + 1; ++r)
    p.applied(r);
  p.answered(1, at); // overwritten by ring_size + 1
  BOOST_TEST(p.unmatched() == 1u);
  p.answered(2, at);
  BOOST_TEST(p.delays().count == 1u);
}

BOOST_AUTO_TEST_CASE(regression_forgets_every_revision) {
  propagation_probe p;
  auto at = p.sent();
  p.applied(20);
  p.answered(21, at); // waits
  p.applied(3);       // the hash expired: revisions start over
  BOOST_TEST(p.unmatched() == 1u);
  // The ring was cleared: the old apply of revision 20 does not count; a
  // write that made the new revision 20 waits for its apply.
  p.answered(20, at);
  BOOST_TEST(p.unmatched() == 1u);
  BOOST_TEST(p.delays().count == 0u);
  for (uint64_t r = 4; r <= 20; ++r)
    p.applied(r);
  BOOST_TEST(p.delays().count == 1u);
}

BOOST_AUTO_TEST_CASE(waiting_writes_are_bounded) {
  propagation_probe p;
  auto at = p.sent();
  for (uint64_t r = 1; r <= propagation_probe::max_waiting + 3; ++r)
    p.answered(r, at);
  BOOST_TEST(p.unmatched() == 3u);
  p.applied(propagation_probe::max_waiting + 3);
  // Everything below the applied revision was skipped.
  BOOST_TEST(p.delays().count == 1u);
  BOOST_TEST(p.unmatched() == propagation_probe::max_waiting + 2);
}

BOOST_AUTO_TEST_SUITE_END()
