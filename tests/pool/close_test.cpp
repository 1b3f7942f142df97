// Closing a pool node while Redis is down: bounded by close-timeout, with
// reconnects that keep their back-off and warnings that do not flood; and
// what a node does after its pub/sub connection re-subscribed.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <future>

#include <caf/all.hpp>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/pool/recorder.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/log_capture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

// Test options: the hand-over would be allowed 30 s (worker-shutdown-ttl),
// close-timeout cuts it to 1 s once Redis is unreachable.
pool_options close_options() {
  pool_options o;
  o.worker_ttl = 600ms;
  o.ack_grace_period = 500ms;
  o.job_sink_block_duration = 100ms;
  o.worker_shutdown_ttl = 30s;
  o.close_timeout = 1s;
  o.requeue_delay = 50ms;
  return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_close, actor_fixture)

BOOST_AUTO_TEST_CASE(close_with_redis_down_returns_within_close_timeout) {
  auto log = std::make_shared<journal>();
  auto node = pool_node::add_node(*rt, "down", close_options());
  BOOST_REQUIRE(node);
  BOOST_REQUIRE((*node)->add_worker(std::make_shared<recorder>(log)));
  BOOST_REQUIRE(!(*node)->dispatch("k1", "p1"));
  BOOST_REQUIRE(!(*node)->dispatch("k2", "p2"));
  log_capture logs;
  server().stop();
  auto t0 = std::chrono::steady_clock::now();
  (*node)->close();
  auto took = std::chrono::steady_clock::now() - t0;
  // command-timeout (2 s in tests) for the membership update, then
  // close-timeout (1 s) for the hand-over; 30 s without close-timeout.
  BOOST_TEST((took < 5s), "close took " << ms_of(took) << " ms");
  BOOST_TEST(logs.contains("reason=close-timeout"));
  // The handlers were stopped locally all the same.
  BOOST_TEST(log->count('x', "k1") == 1u);
  BOOST_TEST(log->count('x', "k2") == 1u);
  // Reconnect attempts keep their back-off while callers retry (20 ms to
  // 200 ms in tests), and repeated failures are warned about once per
  // link and period, not per attempt: a handful of warnings, not hundreds.
  auto warnings = logs.count("redis connect failed");
  BOOST_TEST(warnings <= 12u, warnings << " connect-failure warnings");
}

BOOST_AUTO_TEST_CASE(dispatch_timeout_says_whether_the_job_exists) {
  // No worker anywhere: the job is stored but nobody starts it.
  auto o = close_options();
  o.client_only = true;
  o.ack_grace_period = 200ms;
  auto node = pool_node::add_node(*rt, "nobody", o);
  BOOST_REQUIRE(node);
  auto err = (*node)->dispatch("k1", "p1");
  BOOST_TEST(code_of(err) == errc::timeout, render(err));
  BOOST_TEST(render(err).find("the job exists") != std::string::npos,
             render(err));
  (*node)->close();
}

BOOST_AUTO_TEST_CASE(dispatch_timeout_after_a_resubscription_is_unknown) {
  // A Sentinel failover may discard a job the old master stored (and a
  // worker started there): the new master has no trace of it. Played by
  // hand: the stored job is deleted. Without a reconnect in between, "not
  // stored" is the truth; after one (the node's pub/sub connection
  // re-subscribed), the outcome is unknown.
  auto o = close_options();
  o.client_only = true;
  o.ack_grace_period = 1s; // dispatch timeout 2 s: the re-subscription
                           // (after the reconnect back-off) comes first
  auto node = pool_node::add_node(*rt, "lost", o);
  BOOST_REQUIRE(node);
  const std::string jobs = "pulse:pool:{lost}:jobs";
  auto dispatch_and_drop = [&](const std::string& key, bool reconnect) {
    auto done = std::make_shared<std::promise<caf::error>>();
    auto result = done->get_future();
    (*node)->dispatch_async(key, "p",
                            [done](caf::error err) { done->set_value(err); });
    BOOST_REQUIRE(wait_until(
      [&] { return redis()("HEXISTS", jobs, key)->integer == 1; }, 2s));
    BOOST_REQUIRE(redis()("HDEL", jobs, key));
    if (reconnect) {
      auto killed = redis()("CLIENT", "KILL", "TYPE", "pubsub");
      BOOST_REQUIRE_MESSAGE(killed, describe(killed));
    }
    BOOST_REQUIRE((result.wait_for(5s) == std::future_status::ready));
    return result.get();
  };
  auto err = dispatch_and_drop("k0", false);
  BOOST_TEST(code_of(err) == errc::timeout, render(err));
  BOOST_TEST(render(err).find("the job was not stored (dispatching again is "
                              "safe)")
               != std::string::npos,
             render(err));
  err = dispatch_and_drop("k1", true);
  BOOST_TEST(code_of(err) == errc::timeout, render(err));
  BOOST_TEST(render(err).find("the outcome is unknown") != std::string::npos,
             render(err));
  BOOST_TEST(render(err).find("safe") == std::string::npos, render(err));
  (*node)->close();
}

BOOST_AUTO_TEST_CASE(dispatch_started_while_the_channel_resubscribes_completes) {
  // A start result published while the node's pub/sub connection is down
  // is lost; after the re-subscription the node finds the started job in
  // the jobs hash and completes the dispatch instead of timing out.
  auto o = close_options();
  o.client_only = true;
  o.ack_grace_period = 10s; // a timeout would take 20 s
  auto node = pool_node::add_node(*rt, "resub", o);
  BOOST_REQUIRE(node);
  auto done = std::make_shared<std::promise<caf::error>>();
  auto result = done->get_future();
  (*node)->dispatch_async("k1", "p1",
                          [done](caf::error err) { done->set_value(err); });
  // Nobody starts it (no worker): play the worker's start by hand, as if
  // its result had been published while nobody listened.
  const std::string jobs = "pulse:pool:{resub}:jobs";
  BOOST_REQUIRE(wait_until([&] { return redis()("HEXISTS", jobs, "k1")
                                          ->integer == 1; },
                           2s));
  auto rec = redis()("HGET", jobs, "k1");
  BOOST_REQUIRE_MESSAGE(rec && rec->is_string(), describe(rec));
  // owner|epoch|state|node|dispatch_id
  auto f1 = rec->str.find('|');
  auto f2 = rec->str.find('|', f1 + 1);
  auto f3 = rec->str.find('|', f2 + 1);
  BOOST_REQUIRE(f3 != std::string::npos);
  BOOST_TEST(rec->str.substr(f2 + 1, f3 - f2 - 1) == "p");
  auto started = "w" + rec->str.substr(f1, f2 - f1) + "|r"
                 + rec->str.substr(f3);
  BOOST_REQUIRE(redis()("HSET", jobs, "k1", started));
  BOOST_TEST((result.wait_for(300ms) == std::future_status::timeout));
  // Drop the pub/sub connection: it re-subscribes after its back-off.
  auto killed = redis()("CLIENT", "KILL", "TYPE", "pubsub");
  BOOST_REQUIRE_MESSAGE(killed, describe(killed));
  auto t0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE((result.wait_for(5s) == std::future_status::ready));
  auto err = result.get();
  BOOST_TEST(!err, render(err));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
  BOOST_TEST((*node)->waiting_dispatches() == 0u);
  (*node)->close();
}

BOOST_AUTO_TEST_CASE(membership_lost_by_a_failover_heals_at_resubscription) {
  // A failover can lose the newest membership change: here the one that
  // added the node's worker (played by hand: the worker's entries are
  // deleted and the revision goes back by one). The node still holds the
  // newer revision; every dispatch would be refused as stale until the
  // next keep-alive made the worker rejoin. After the re-subscription that
  // follows a failover it renews at once and takes the older revision.
  auto o = close_options();
  o.worker_ttl = 30s; // keep-alive every 10 s: healing must not wait for it
  o.worker_shutdown_ttl = 2s;
  auto log = std::make_shared<journal>();
  auto node = pool_node::add_node(*rt, "lostrev", o);
  BOOST_REQUIRE(node);
  auto id = (*node)->add_worker(std::make_shared<recorder>(log));
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  BOOST_REQUIRE(!(*node)->dispatch("k1", "p1"));
  const std::string pfx = "pulse:pool:{lostrev}:";
  auto rev = redis()("GET", pfx + "mrev");
  BOOST_REQUIRE_MESSAGE(rev && rev->is_string(), describe(rev));
  auto older = std::to_string(std::stoll(rev->str) - 1);
  BOOST_REQUIRE(redis()("HDEL", pfx + "workers", *id));
  BOOST_REQUIRE(redis()("ZREM", pfx + "alive", "w:" + *id));
  BOOST_REQUIRE(redis()("SET", pfx + "mrev", older));
  auto killed = redis()("CLIENT", "KILL", "TYPE", "pubsub");
  BOOST_REQUIRE_MESSAGE(killed, describe(killed));
  auto t0 = std::chrono::steady_clock::now();
  // The worker is a member again, and dispatches run, well before the
  // keep-alive (10 s).
  BOOST_TEST(wait_until(
    [&] { return redis()("HEXISTS", pfx + "workers", *id)->integer == 1; },
    5s));
  caf::error err;
  BOOST_TEST(wait_until(
    [&] {
      // (a dispatch that timed out after storing the job makes the next
      // one `job_exists`: stored is what counts)
      err = (*node)->dispatch("k2", "p2");
      return !err || code_of(err) == errc::job_exists;
    },
    5s),
    render(err));
  BOOST_TEST(wait_until([&] { return log->count('s', "k2") == 1u; }, 5s));
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST((took < 5s), "healed after " << ms_of(took) << " ms");
  (*node)->close();
}

BOOST_AUTO_TEST_SUITE_END()
