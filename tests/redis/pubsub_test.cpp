// Pub/sub actor: fan-out, unsubscribe, dead subscribers, patterns, resubscribe.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>

#include <caf/all.hpp>

#include "pulse/actors/redis/pubsub.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/pubsub_inbox.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(pubsub, actor_fixture)

BOOST_AUTO_TEST_CASE(fan_out_to_three_subscribers_with_one_redis_subscription) {
  std::vector<std::shared_ptr<pubsub_inbox>> boxes;
  std::vector<pubsub_subscriber_actor> subs;
  for (int i = 0; i < 3; ++i) {
    boxes.push_back(std::make_shared<pubsub_inbox>());
    subs.push_back(sys->spawn(pubsub_inbox_subscriber, boxes.back()));
    (*self)->request(rt->pubsub(), 5s, sub_atom::value, std::string{"news"},
                     subs.back())
      .receive([](bool ok) { BOOST_TEST(ok); },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
  }
  // One Redis subscription for the channel, however many subscribers.
  auto numsub = redis()("PUBSUB", "NUMSUB", "news");
  BOOST_TEST(*numsub->elements[1].as_integer() == 1);
  // Binary payloads pass through unchanged.
  std::string payload{"a\0b\r\n", 5};
  BOOST_TEST(*redis()("PUBLISH", "news", payload)->as_integer() == 1);
  for (auto& box : boxes) {
    BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
    BOOST_TEST(box->msgs[0].channel == "news");
    BOOST_TEST(box->msgs[0].pattern.empty());
    BOOST_TEST(box->msgs[0].payload == payload);
  }
  // Unsubscribe one: the others still receive, it does not.
  (*self)->request(rt->pubsub(), 5s, unsub_atom::value, std::string{"news"},
                   subs[0])
    .receive([](bool ok) { BOOST_TEST(ok); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  redis()("PUBLISH", "news", "second");
  BOOST_REQUIRE(wait_until([&] { return boxes[1]->size() == 2; }));
  BOOST_REQUIRE(wait_until([&] { return boxes[2]->size() == 2; }));
  std::this_thread::sleep_for(50ms);
  BOOST_TEST(boxes[0]->size() == 1u);
  // The last subscriber leaving ends the Redis subscription.
  for (int i = 1; i < 3; ++i)
    (*self)->request(rt->pubsub(), 5s, unsub_atom::value, std::string{"news"},
                     subs[i])
      .receive([](bool) {}, [](caf::error&) {});
  BOOST_TEST(wait_until([&] {
    return *redis()("PUBSUB", "NUMSUB", "news")->elements[1].as_integer() == 0;
  }));
  for (auto& s : subs)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(dead_subscriber_is_dropped) {
  auto live_box = std::make_shared<pubsub_inbox>();
  auto dead_box = std::make_shared<pubsub_inbox>();
  auto live = sys->spawn(pubsub_inbox_subscriber, live_box);
  auto dead = sys->spawn(pubsub_inbox_subscriber, dead_box);
  for (auto& s : {live, dead})
    (*self)->request(rt->pubsub(), 5s, sub_atom::value, std::string{"c1"}, s)
      .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  (*self)->request(rt->pubsub(), 5s, sub_atom::value, std::string{"c2"}, dead)
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(*redis()("PUBSUB", "NUMSUB", "c2")->elements[1].as_integer() == 1);
  caf::anon_send_exit(dead, caf::exit_reason::kill);
  dead = nullptr;
  // c2 had only the dead subscriber: its Redis subscription goes away.
  BOOST_TEST(wait_until([&] {
    return *redis()("PUBSUB", "NUMSUB", "c2")->elements[1].as_integer() == 0;
  }));
  redis()("PUBLISH", "c1", "x");
  BOOST_TEST(wait_until([&] { return live_box->size() == 1; }));
  BOOST_TEST(dead_box->size() == 0u);
  caf::anon_send_exit(live, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(pattern_subscription) {
  auto box = std::make_shared<pubsub_inbox>();
  auto s = sys->spawn(pubsub_inbox_subscriber, box);
  (*self)->request(rt->pubsub(), 5s, psub_atom::value, std::string{"map:*"}, s)
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  redis()("PUBLISH", "map:a:updates", "1");
  redis()("PUBLISH", "other", "2");
  redis()("PUBLISH", "map:b:updates", "3");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 2; }));
  BOOST_TEST(box->msgs[0].channel == "map:a:updates");
  BOOST_TEST(box->msgs[0].pattern == "map:*");
  BOOST_TEST(box->msgs[1].payload == "3");
  caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(resubscribed_signal_after_connection_killed) {
  auto box = std::make_shared<pubsub_inbox>();
  auto s = sys->spawn(pubsub_inbox_subscriber, box);
  (*self)->request(rt->pubsub(), 5s, sub_atom::value, std::string{"r1"}, s)
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  // Kill only the subscription connection (Redis stays up).
  BOOST_TEST(*redis()("CLIENT", "KILL", "TYPE", "pubsub")->as_integer() >= 1);
  BOOST_REQUIRE(wait_until([&] { return box->resub_count() == 1; }));
  BOOST_TEST(box->resubs[0] == "r1");
  redis()("PUBLISH", "r1", "after");
  BOOST_TEST(wait_until([&] { return box->size() == 1; }));
  caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
