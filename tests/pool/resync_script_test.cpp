// The pool's `resync` script, which rebuilds a worker's queue after its
// poll connection failed: running jobs the worker no longer owns are
// listed for a stop, except those whose completion entry was still queued
// (listed as completed: the worker forgets them without a stop), queued
// notifications stay, and pending jobs are queued again under new epochs.

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "pulse/actors/pool/scripts.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;

BOOST_FIXTURE_TEST_SUITE(resync_script, actor_fixture)

BOOST_AUTO_TEST_CASE(a_completion_still_queued_is_reported_without_a_stop) {
  // w1 (a member) runs k1..k4. Meanwhile k1 completed (record gone, `C`
  // queued), k2 was stopped (record gone, `T` queued), k3 moved to w2, and
  // k4 completed and was dispatched to w1 again (pending, newer epoch).
  // k5 is pending on w1 and never started. k6 runs on w1 (a notification
  // for it is queued).
  auto pfx = pool_scripts::pool_prefix("rs");
  auto keys = pool_scripts::script_keys(pfx);
  auto& r = redis();
  BOOST_REQUIRE(r("HSET", pfx + "workers", "w1", "1|n1", "w2", "1|n1"));
  BOOST_REQUIRE(r("HSET", pfx + "jobs", "k3", "w2|20|p|n1|", "k4",
                  "w1|21|p|n1|", "k5", "w1|15|p|n1|"));
  BOOST_REQUIRE(r("HSET", pfx + "payloads", "k3", "p3", "k4", "p4", "k5",
                  "p5"));
  BOOST_REQUIRE(r("SADD", pfx + "owned:w1", "k4", "k5"));
  BOOST_REQUIRE(r("SADD", pfx + "owned:w2", "k3"));
  BOOST_REQUIRE(r("SET", pfx + "queued", "3"));
  BOOST_REQUIRE(r("SET", pfx + "epoch", "30"));
  // 300 stale starts first: the `C` entries lie past the script's first
  // chunk of 256. (A key with spaces parses too.)
  for (int i = 0; i < 300; ++i)
    BOOST_REQUIRE(r("RPUSH", pfx + "q:w1", "S5 2 0 0 kx"));
  BOOST_REQUIRE(r("RPUSH", pfx + "q:w1", "C11 k1", "T12 k2", "N16 2 k6hi",
                  "C14 k4", "C99 k9 with spaces"));
  BOOST_REQUIRE(r("HSET", pfx + "jobs", "k6", "w1|16|r|n1|"));
  BOOST_REQUIRE(r("SADD", pfx + "owned:w1", "k6"));
  auto x = r.eval(pool_scripts::resync(), keys,
                  {"w1", "k1", "11", "k2", "12", "k3", "13", "k4", "14", "k6",
                   "16"});
  BOOST_REQUIRE_MESSAGE(x, describe(x));
  // Two starts queued again (k4, k5); k1 and k4 completed, k2 and k3
  // stopped.
  BOOST_TEST(x->render()
             == "[\"ok\", \"2\", \"k1\", \"C11\", \"k2\", \"12\", \"k3\", "
                "\"13\", \"k4\", \"C14\"]");
  // The notification of running k6 first, then the two new starts.
  auto q = r("LRANGE", pfx + "q:w1", "0", "-1");
  BOOST_REQUIRE(q);
  BOOST_REQUIRE_EQUAL(q->elements.size(), 3u);
  BOOST_TEST(q->elements[0].str == "N16 2 k6hi");
  for (size_t i = 1; i < 3; ++i) // epochs 31 and 32
    BOOST_TEST(q->elements[i].str.rfind("S3", 0) == 0, q->elements[i].str);
  auto k4 = r("HGET", pfx + "jobs", "k4");
  BOOST_REQUIRE(k4);
  BOOST_TEST(k4->str.rfind("w1|3", 0) == 0, k4->str);
}

BOOST_AUTO_TEST_CASE(a_completion_of_another_epoch_still_stops) {
  // The queued `C` names an earlier run of k1; the one running (epoch 12)
  // was stopped: it is listed for a stop. A lost worker gets `lost`.
  auto pfx = pool_scripts::pool_prefix("rt");
  auto keys = pool_scripts::script_keys(pfx);
  auto& r = redis();
  BOOST_REQUIRE(r("HSET", pfx + "workers", "w1", "1|n1"));
  BOOST_REQUIRE(r("RPUSH", pfx + "q:w1", "C11 k1", "T12 k1"));
  auto x = r.eval(pool_scripts::resync(), keys, {"w1", "k1", "12"});
  BOOST_REQUIRE_MESSAGE(x, describe(x));
  BOOST_TEST(x->render() == "[\"ok\", \"0\", \"k1\", \"12\"]");
  auto n = r("EXISTS", pfx + "q:w1");
  BOOST_REQUIRE(n);
  BOOST_TEST(n->integer == 0);
  auto lost = r.eval(pool_scripts::resync(), keys, {"w3", "k1", "12"});
  BOOST_REQUIRE_MESSAGE(lost, describe(lost));
  BOOST_TEST(lost->render() == "[\"lost\"]");
}

BOOST_AUTO_TEST_SUITE_END()
