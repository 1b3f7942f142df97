// Worker pools against a real Redis: a job outcome published while the
// dispatching node's pub/sub connection is down still reaches
// dispatch_and_wait (the completion script keeps it, the node reads it back
// after re-subscribing).

#include <boost/test/unit_test.hpp>

#include <future>
#include <map>
#include <mutex>
#include <string>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// Refuses new connections (`maxclients 1`, below the connections already
/// open, which stay) until destroyed, then restores the limit.
struct refuse_new_connections {
  pulse::client& redis;
  std::string old;

  explicit refuse_new_connections(pulse::client& c) : redis(c) {
    auto r = redis("CONFIG", "GET", "maxclients");
    BOOST_REQUIRE(r && r->elements.size() == 2);
    old = r->elements[1].str;
    BOOST_REQUIRE(redis("CONFIG", "SET", "maxclients", "1"));
  }

  void restore() {
    if (!old.empty())
      redis("CONFIG", "SET", "maxclients", old);
    old.clear();
  }

  ~refuse_new_connections() { restore(); }
};

/// Number of pub/sub connections the server has right now.
size_t pubsub_clients(pulse::client& redis) {
  auto r = redis("CLIENT", "LIST", "TYPE", "pubsub");
  if (!r)
    return 1000;
  size_t n = 0;
  for (auto c : r->str)
    if (c == '\n')
      ++n;
  return n;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_outcome, pool_fixture)

BOOST_AUTO_TEST_CASE(an_outcome_published_while_unsubscribed_is_recovered) {
  // A long lease: with both cores busy a 600 ms one can lapse, and the
  // cleaner would move the held job (complete_job then finds it stale).
  auto o = fast_options();
  o.worker_ttl = 5s;
  auto n = node(o);
  auto h = std::make_shared<job_holder>(log);
  worker(*n, h);
  auto pfx = pool_scripts::pool_prefix("p");
  for (auto failed : {false, true}) {
    auto key = failed ? std::string{"bad"} : std::string{"good"};
    std::promise<caf::expected<std::string>> outcome;
    auto f = outcome.get_future();
    n->dispatch_for_result(key, "x", 20s, [&](caf::expected<std::string> r) {
      outcome.set_value(std::move(r));
    });
    BOOST_REQUIRE(wait_until([&] { return static_cast<bool>(h->get(key)); }));
    {
      // The node's pub/sub connection dies and cannot come back while the
      // job completes: its completion record reaches nobody.
      refuse_new_connections guard{redis()};
      BOOST_REQUIRE(redis()("CLIENT", "KILL", "TYPE", "pubsub"));
      BOOST_REQUIRE(wait_until([&] { return pubsub_clients(redis()) == 0; }));
      auto j = *h->get(key);
      auto err = failed ? n->fail_job(j, "disk full")
                        : n->complete_job(j, "all done");
      BOOST_REQUIRE_MESSAGE(!err, render(err));
      // Kept for the waiter (this is the record that was missed).
      auto kept = redis()("KEYS", pfx + "out:*");
      BOOST_REQUIRE(kept);
      BOOST_TEST(kept->elements.size() == 1u);
      BOOST_TEST((f.wait_for(50ms) == std::future_status::timeout));
      guard.restore();
    }
    // Re-subscribed: the node reads the kept outcome back.
    BOOST_REQUIRE((f.wait_for(15s) == std::future_status::ready));
    auto r = f.get();
    if (failed) {
      BOOST_REQUIRE(!r);
      BOOST_TEST(code_of(r.error()) == errc::handler_failed);
      BOOST_TEST(render(r.error()).find("disk full") != std::string::npos);
    } else {
      BOOST_REQUIRE_MESSAGE(r, describe(r));
      BOOST_TEST(*r == "all done");
    }
    // Delivered: deleted.
    BOOST_TEST(wait_until([&] {
      auto kept = redis()("KEYS", pfx + "out:*");
      return kept && kept->elements.empty();
    }));
  }
}

BOOST_AUTO_TEST_CASE(a_received_outcome_is_not_kept) {
  auto n = node();
  auto h = std::make_shared<job_holder>(log);
  worker(*n, h);
  auto pfx = pool_scripts::pool_prefix("p");
  std::promise<caf::expected<std::string>> outcome;
  auto f = outcome.get_future();
  n->dispatch_for_result("k", "x", 20s, [&](caf::expected<std::string> r) {
    outcome.set_value(std::move(r));
  });
  BOOST_REQUIRE(wait_until([&] { return static_cast<bool>(h->get("k")); }));
  BOOST_REQUIRE(!n->complete_job(*h->get("k"), "first"));
  BOOST_REQUIRE((f.wait_for(5s) == std::future_status::ready));
  auto r = f.get();
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(*r == "first");
  auto kept = redis()("KEYS", pfx + "out:*");
  BOOST_REQUIRE(kept);
  BOOST_TEST(kept->elements.empty());
  // The same key dispatched again waits for its own outcome.
  auto again = n->dispatch_and_wait("k", "x", 300ms);
  BOOST_REQUIRE(!again);
  BOOST_TEST(code_of(again.error()) == errc::timeout);
}

BOOST_AUTO_TEST_SUITE_END()
