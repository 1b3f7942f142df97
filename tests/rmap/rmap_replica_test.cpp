// Replicated maps against a real Redis: replicas and their subscribers.
// Coarse and detailed subscribers, concurrent writers, resyncs after gaps,
// regressions and a killed subscription, malformed notifications.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "tests/rmap/rmap_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(rmap_ops, rmap_fixture)

BOOST_AUTO_TEST_CASE(coarse_subscribers_coalesce_to_the_strongest_kind) {
  auto m = join("notify");
  struct seen_t {
    std::mutex mtx;
    std::vector<map_event_kind> kinds;
  };
  auto seen = std::make_shared<seen_t>();
  auto gate = std::make_shared<std::atomic<bool>>(false);
  auto sub = sys->spawn([=](caf::event_based_actor*) -> caf::behavior {
    return {
      [=](map_event_atom, const std::string&, map_event_kind k) {
        // Slow first reply: later events coalesce meanwhile.
        while (!*gate)
          std::this_thread::sleep_for(1ms);
        std::lock_guard<std::mutex> g{seen->mtx};
        seen->kinds.push_back(k);
        return true;
      },
    };
  });
  (*self)->request(m->replica(), 5s, sub_atom::value, caf::actor_cast<pulse::map_event_subscriber_actor>(sub))
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  m->set_and_wait("a", "1");   // change (in flight, subscriber blocked)
  m->set_and_wait("b", "1");   // change
  BOOST_REQUIRE(!m->reset());  // reset
  m->set_and_wait("c", "1");   // change
  *gate = true;
  BOOST_REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> g{seen->mtx};
    return seen->kinds.size() == 2;
  }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard<std::mutex> g{seen->mtx};
  BOOST_REQUIRE_EQUAL(seen->kinds.size(), 2u);
  BOOST_TEST((seen->kinds[0] == map_event_kind::change));
  BOOST_TEST((seen->kinds[1] == map_event_kind::reset)); // not hidden
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(detailed_subscribers_get_every_change) {
  auto m = join("details");
  struct seen_t {
    std::mutex mtx;
    std::vector<map_change> changes;
  };
  auto seen = std::make_shared<seen_t>();
  auto sub = sys->spawn([=](caf::event_based_actor*) -> caf::behavior {
    return {
      [=](map_changes& xs) {
        std::lock_guard<std::mutex> g{seen->mtx};
        for (auto& c : xs.changes)
          seen->changes.push_back(c);
        return true;
      },
    };
  });
  (*self)->request(m->replica(), 5s, sub_atom::value, caf::actor_cast<pulse::map_changes_subscriber_actor>(sub))
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  m->set("k", "1");
  m->set("k", "2");
  m->del("k");
  BOOST_REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> g{seen->mtx};
    return seen->changes.size() == 3;
  }));
  std::lock_guard<std::mutex> g{seen->mtx};
  auto& c = seen->changes;
  BOOST_TEST((c[0].kind == map_event_kind::change));
  BOOST_TEST(!c[0].existed);
  BOOST_TEST(c[0].new_value == "1");
  BOOST_TEST(c[1].old_value == "1");
  BOOST_TEST(c[1].new_value == "2");
  BOOST_TEST((c[2].kind == map_event_kind::del));
  BOOST_TEST(c[2].old_value == "2");
  BOOST_TEST(c[2].rev == c[0].rev + 2);
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(concurrent_writers) {
  auto m = join("concurrent");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        m->set("t" + std::to_string(t) + ":" + std::to_string(i), "v");
      for (int i = 0; i < 50; ++i)
        m->inc("shared", 1);
    });
  for (auto& t : ts)
    t.join();
  BOOST_TEST(wait_until([&] { return converged(m); }));
  BOOST_TEST(m->len() == 201u);
  BOOST_TEST(opt(m->get("shared")) == "\"200\"");
}

BOOST_AUTO_TEST_CASE(gap_in_revisions_triggers_a_resync) {
  auto m = join("gappy");
  m->set_and_wait("a", "1");
  // A write that publishes nothing (as if its message was lost), then a
  // normal one: the replica sees rev+2 and resyncs.
  redis()("HSET", "map:gappy:content", "hidden", "x");
  redis()("HINCRBY", "map:gappy:content", "=rev", "1");
  m->set("b", "2");
  BOOST_TEST(wait_until([&] { return converged(m); }));
  BOOST_TEST(opt(m->get("hidden")) == "\"x\"");
  BOOST_TEST(stats(m).gaps >= 1u);
}

BOOST_AUTO_TEST_CASE(revision_regression_triggers_a_resync) {
  auto m = join("regress");
  for (int i = 0; i < 5; ++i)
    m->set_and_wait("k" + std::to_string(i), "v");
  // The hash expires (or Redis lost it): revisions start again at 1.
  redis()("DEL", "map:regress:content");
  m->set("fresh", "1");
  BOOST_TEST(wait_until([&] { return converged(m); }));
  BOOST_TEST(m->len() == 1u);
  BOOST_TEST(m->rev() == 1u);
}

BOOST_AUTO_TEST_CASE(killed_subscription_resyncs_missed_updates) {
  auto m = join("resub");
  m->set_and_wait("a", "1");
  auto other = join("resub"); // a second replica in this process
  // Kill the pub/sub connection, write meanwhile from the gateway.
  redis()("CLIENT", "KILL", "TYPE", "pubsub");
  for (int i = 0; i < 10; ++i)
    m->set("k" + std::to_string(i), std::to_string(i));
  BOOST_TEST(wait_until([&] { return converged(m) && converged(other); }));
  BOOST_TEST(m->len() == 11u);
}

BOOST_AUTO_TEST_CASE(malformed_notifications_are_dropped) {
  auto m = join("noise");
  redis()("PUBLISH", "map:noise:updates", "garbage");
  redis()("PUBLISH", "map:noise:updates", "set:\x05");
  m->set_and_wait("k", "v");
  BOOST_TEST(opt(m->get("k")) == "\"v\"");
  BOOST_TEST(stats(m).malformed == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
