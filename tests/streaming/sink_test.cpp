// Sinks (consumer groups) against a real Redis: the group and its
// instances. Creation, sharing the work, redelivery after the grace
// period, closed, stale and SIGKILLed instances, a deleted group, a Redis
// restart. The other cases of the `sink` suite: sink_delivery_test.cpp,
// sink_trim_test.cpp.

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "tests/streaming/sink_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(sink, sink_fixture)

BOOST_AUTO_TEST_CASE(creation_registers_group_consumer_and_go_maps) {
  auto s = make("workers", {"jobs"}, fast());
  auto groups = redis()("XINFO", "GROUPS", "pulse:stream:jobs");
  BOOST_REQUIRE(groups);
  BOOST_TEST(groups->render().find("\"workers\"") != std::string::npos);
  auto consumers = redis()("XINFO", "CONSUMERS", "pulse:stream:jobs",
                           "workers");
  BOOST_REQUIRE_EQUAL(consumers->elements.size(), 1u);
  auto consumer = consumers->elements[0].elements[1].str;
  BOOST_TEST(consumer.size() == 26u); // a ULID
  // Go Pulse's membership and keep-alive maps (rmap protocol).
  auto members = redis()("HGET", "map:stream:jobs:sinks:content", "workers");
  BOOST_TEST(members->str == "[\"" + consumer + "\"]");
  BOOST_TEST(*redis()("HGET", "map:stream:jobs:sinks:content", "=rev")
                ->as_integer()
             >= 1);
  auto ka = redis()("HGET", "map:sink:workers:keepalive:content", consumer);
  BOOST_REQUIRE(ka->as_integer());
  BOOST_TEST(unix_ns() - *ka->as_integer() < 5'000'000'000);
  // Bad input is rejected before any I/O.
  BOOST_TEST(!spawn_sink(*rt, "bad name", {"jobs"}, fast()).engaged());
  auto o = fast();
  o.topic_pattern = "(";
  auto bad = spawn_sink(*rt, "w", {"jobs"}, o);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(render(bad.error()).find("topic pattern must be a valid regex")
             != std::string::npos);
  close(s);
  // Closing leaves the consumer for others to claim.
  BOOST_TEST(redis()("XINFO", "CONSUMERS", "pulse:stream:jobs", "workers")
               ->elements.size()
             == 1u);
}

BOOST_AUTO_TEST_CASE(two_instances_share_the_work_exactly_once) {
  auto s1 = make("share", {"work"}, fast());
  auto s2 = make("share", {"work"}, fast());
  auto b1 = attach(s1, true);
  auto b2 = attach(s2, true);
  for (int i = 0; i < 200; ++i)
    add("work", std::to_string(i));
  BOOST_REQUIRE(wait_until([&] { return b1->size() + b2->size() == 200; }));
  // Acked events are not redelivered within 2 x grace.
  std::this_thread::sleep_for(2 * grace + 100ms);
  BOOST_TEST(b1->size() + b2->size() == 200u);
  std::set<std::string> seen;
  for (auto& box : {b1, b2})
    for (auto& ev : box->snapshot()) {
      BOOST_TEST(ev.sink == "share");
      BOOST_TEST(seen.insert(ev.payload).second, "duplicate " << ev.payload);
    }
  BOOST_TEST(seen.size() == 200u);
  BOOST_TEST(pending("work", "share") == 0);
  BOOST_TEST(stats(s1).acked + stats(s2).acked == 200u);
}

BOOST_AUTO_TEST_CASE(unacked_event_is_redelivered_after_grace_then_acked) {
  auto s = make("redeliver", {"r"}, fast());
  auto box = std::make_shared<event_inbox>();
  // First delivery: nack (no ack); later deliveries: ack.
  auto calls = std::make_shared<int>(0);
  auto sub = sys->spawn([=](caf::event_based_actor* me) -> caf::behavior {
    return {
      [=](event_batch& batch) {
        for (auto& ev : batch.events) {
          {
            std::lock_guard<std::mutex> guard{box->mtx};
            box->events.push_back(ev);
          }
          if ((*calls)++ > 0)
            me->send(s, ack_atom::value, ev.stream, ev.id);
        }
        return true;
      },
    };
  });
  attach_actor(s, sub);
  // Redis redelivers (XAUTOCLAIM) only after the event was idle for the
  // grace period since its delivery, which came after the add: time from
  // the add (the first delivery may be seen late on a loaded machine).
  auto t0 = std::chrono::steady_clock::now();
  add("r", "once");
  // At least one delivery (the redelivery may follow the first one before
  // a poll sees the box at exactly one); on failure, say what the sink did.
  auto diag = [&] {
    auto st = stats(s);
    return "polls=" + std::to_string(st.polls)
           + " delivered=" + std::to_string(st.delivered)
           + " reclaimed=" + std::to_string(st.reclaimed)
           + " errors=" + std::to_string(st.errors)
           + " pending=" + std::to_string(pending("r", "redeliver"))
           + " box=" + std::to_string(box->size());
  };
  BOOST_REQUIRE_MESSAGE(wait_until([&] { return box->size() >= 1; }, 10s),
                        diag());
  BOOST_TEST(box->snapshot()[0].deliveries == 1u);
  BOOST_REQUIRE_MESSAGE(wait_until([&] { return box->size() >= 2; }, 10s),
                        diag());
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= grace - 20ms));
  BOOST_TEST(box->snapshot()[1].deliveries >= 2u);
  BOOST_TEST(box->snapshot()[1].id == box->snapshot()[0].id);
  // Acked now: no third delivery.
  std::this_thread::sleep_for(3 * grace);
  BOOST_TEST(box->size() == 2u);
  BOOST_TEST(pending("r", "redeliver") == 0);
}

BOOST_AUTO_TEST_CASE(closed_instance_events_go_to_the_other_instance) {
  auto s1 = make("death", {"d"}, fast());
  auto b1 = attach(s1, false); // never acks
  add("d", "x");
  BOOST_REQUIRE(wait_until([&] { return b1->size() == 1; }));
  auto s2 = make("death", {"d"}, fast());
  auto b2 = attach(s2, true);
  close(s1);
  BOOST_TEST(wait_until([&] { return b2->size() == 1; }, 4 * grace + 2s));
  BOOST_TEST(b2->snapshot()[0].payload == "x");
  BOOST_TEST(wait_until([&] { return pending("d", "death") == 0; }));
}

BOOST_AUTO_TEST_CASE(stale_consumer_is_claimed_then_removed) {
  auto s1 = make("stale", {"st"}, fast());
  auto b1 = attach(s1, false);
  add("st", "held");
  BOOST_REQUIRE(wait_until([&] { return b1->size() == 1; }));
  auto s2 = make("stale", {"st"}, fast());
  BOOST_TEST(redis()("XINFO", "CONSUMERS", "pulse:stream:st", "stale")
               ->elements.size()
             == 2u);
  close(s1);
  auto b2 = attach(s2, true); // subscribes late
  BOOST_TEST(wait_until([&] { return b2->size() >= 1; }, 4 * grace + 2s));
  BOOST_TEST(b2->snapshot()[0].payload == "held");
  // The stale consumer is gone from the group and from both Go maps (the
  // janitor removes them in that order, so wait for all three).
  auto consumers = [&] {
    return redis()("XINFO", "CONSUMERS", "pulse:stream:st", "stale")
      ->elements.size();
  };
  auto members = [&] {
    return decode_list(
             redis()("HGET", "map:stream:st:sinks:content", "stale")->str)
      .size();
  };
  auto keepalives = [&] {
    // one consumer + =rev + =kind
    return redis()("HLEN", "map:sink:stale:keepalive:content")->integer;
  };
  BOOST_TEST(wait_until(
    [&] { return consumers() == 1 && members() == 1 && keepalives() == 3; },
    4 * grace + 2s));
  BOOST_TEST(consumers() == 1u);
  BOOST_TEST(members() == 1u);
  BOOST_TEST(keepalives() == 3);
  BOOST_TEST(stats(s2).stale_consumers_removed >= 1u);
}

BOOST_AUTO_TEST_CASE(sigkilled_sink_process_loses_nothing) {
  for (int i = 0; i < 20; ++i)
    add("killed", std::to_string(i));
  int out[2];
  BOOST_REQUIRE(::pipe(out) == 0);
  auto port = std::to_string(this->port());
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execl(PULSE_SINK_PROCESS, PULSE_SINK_PROCESS, port.c_str(), "crash",
            "killed", "200", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  // Wait until the process received all 20 events (and acked none).
  std::string output;
  char buf[256];
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (output.find("received 20") == std::string::npos
         && std::chrono::steady_clock::now() < deadline) {
    auto n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0)
      break;
    output.append(buf, static_cast<size_t>(n));
  }
  BOOST_REQUIRE_MESSAGE(output.find("received 20") != std::string::npos,
                        output);
  BOOST_TEST(pending("killed", "crash") == 20);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ::close(out[0]);
  // A live instance gets all of them after the grace period.
  auto s = make("crash", {"killed"}, fast());
  auto box = attach(s, true);
  BOOST_REQUIRE(wait_until([&] { return box->size() >= 20; }, 10s));
  std::set<std::string> seen;
  for (auto& ev : box->snapshot())
    seen.insert(ev.payload);
  BOOST_TEST(seen.size() == 20u);
  BOOST_TEST(wait_until([&] { return pending("killed", "crash") == 0; }));
}

BOOST_AUTO_TEST_CASE(deleted_group_is_recreated) {
  auto s = make("regroup", {"g"}, fast());
  auto box = attach(s, true);
  add("g", "1");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  BOOST_REQUIRE(redis()("XGROUP", "DESTROY", "pulse:stream:g", "regroup"));
  add("g", "2");
  // The group is re-created from 0, so "1" may come again before "2": wait
  // for "2" itself (waiting for two events raced with that redelivery).
  BOOST_TEST(wait_until(
    [&] {
      auto xs = box->snapshot();
      return !xs.empty() && xs.back().payload == "2";
    },
    5s));
}

BOOST_AUTO_TEST_CASE(sink_survives_redis_restart_without_losing_events) {
  // Without AOF the restarted Redis is empty: the sink sees NOGROUP,
  // re-creates its group from 0 and goes on.
  auto s = make("survivor", {"rr"}, fast());
  auto box = attach(s, true);
  add("rr", "before");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  server().kill();
  std::this_thread::sleep_for(100ms);
  BOOST_REQUIRE(!server().restart());
  BOOST_REQUIRE(wait_until([&] { return redis()("PING").engaged(); }, 5s));
  add("rr", "after");
  BOOST_TEST(wait_until(
    [&] {
      for (auto& ev : box->snapshot())
        if (ev.payload == "after")
          return true;
      return false;
    },
    10s));
}

BOOST_AUTO_TEST_SUITE_END()
