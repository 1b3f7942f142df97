// Sinks (consumer groups) against a real Redis: what they deliver. Dead
// letters, malformed and filtered entries, no-ack mode, several streams,
// the plain C++ subscription.

#include <boost/test/unit_test.hpp>

#include <set>

#include "pulse/actors/streaming/sink.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "pulse/runtime/config.hpp"
#include "tests/streaming/sink_fixture.hpp"
#include "tests/support/threads.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

// Acks every event except those whose payload is in `refuse`, which it
// nacks with an error.
caf::behavior picky(caf::event_based_actor* self,
                    std::shared_ptr<event_inbox> box, caf::actor sink,
                    std::set<std::string> refuse) {
  return {
    [=](event_batch& batch) {
      std::lock_guard<std::mutex> guard{box->mtx};
      for (auto& ev : batch.events) {
        box->events.push_back(ev);
        if (refuse.count(ev.payload) > 0)
          self->send(sink, nack_atom::value, ev.stream, ev.id,
                     std::string{"boom"});
        else
          self->send(sink, ack_atom::value, ev.stream, ev.id);
      }
      return true;
    },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(sink, sink_fixture)

BOOST_AUTO_TEST_CASE(poison_event_goes_to_dead_letter_and_sink_goes_on) {
  auto o = fast();
  o.max_deliveries = 3;
  auto s = make("dl", {"poison"}, o);
  auto box = std::make_shared<event_inbox>();
  auto sub = sys->spawn(picky, box, caf::actor_cast<caf::actor>(s),
                        std::set<std::string>{"bad"});
  attach_actor(s, sub);
  auto bad_id = add("poison", "bad");
  add("poison", "good1");
  BOOST_REQUIRE(wait_until(
    [&] {
      auto r = redis()("XLEN", "pulse:stream:poison:dead-letter");
      return r && r->integer == 1;
    },
    10s));
  add("poison", "good2");
  BOOST_REQUIRE(wait_until([&] {
    for (auto& ev : box->snapshot())
      if (ev.payload == "good2")
        return true;
    return false;
  }));
  auto dl = redis()("XRANGE", "pulse:stream:poison:dead-letter", "-", "+");
  auto fields = dl->elements[0].elements[1].render();
  BOOST_TEST(fields.find("\"n\", \"ev\", \"p\", \"bad\"") != std::string::npos,
             fields);
  BOOST_TEST(fields.find("\"id\", \"" + bad_id + "\"") != std::string::npos);
  BOOST_TEST(fields.find("\"error\", \"boom\"") != std::string::npos, fields);
  BOOST_TEST(fields.find("\"deliveries\", \"3\"") != std::string::npos,
             fields);
  BOOST_TEST(wait_until([&] { return pending("poison", "dl") == 0; }));
  BOOST_TEST(stats(s).dead_lettered == 1u);
}

BOOST_AUTO_TEST_CASE(malformed_and_filtered_entries_are_acked) {
  auto o = fast();
  o.topic = "keep";
  auto s = make("mf", {"mixed"}, o);
  auto box = attach(s, true);
  redis()("XADD", "pulse:stream:mixed", "*", "x", "1"); // malformed
  add("mixed", "skip", "other");
  add("mixed", "yes", "keep");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  BOOST_TEST(box->snapshot()[0].payload == "yes");
  BOOST_TEST(wait_until([&] { return pending("mixed", "mf") == 0; }));
  BOOST_TEST(redis()("XLEN", "pulse:stream:mixed:dead-letter")->integer == 1);
  auto st = stats(s);
  BOOST_TEST(st.malformed == 1u);
  BOOST_TEST(st.filtered == 1u);
}

BOOST_AUTO_TEST_CASE(stats_report_pending_and_lag_from_redis) {
  auto o = fast();
  o.ack_grace = 10s; // nothing is reclaimed during the test
  auto s = make("backlog", {"backlog-s"}, o);
  // Before any subscriber the sink reads nothing: every event is lag.
  for (int i = 0; i < 4; ++i)
    add("backlog-s", std::to_string(i));
  auto st = stats(s);
  BOOST_TEST(st.pending == 0u);
  BOOST_TEST(st.lag == 4);
  // Delivered to a subscriber that does not ack: pending, no lag.
  auto box = attach(s, false);
  BOOST_REQUIRE(wait_until([&] { return box->size() == 4u; }, 3s));
  BOOST_REQUIRE(wait_until([&] { return stats(s).pending == 4u; }, 3s));
  BOOST_TEST(stats(s).lag == 0);
  // Acked: nothing pending.
  std::vector<std::string> ids;
  for (auto& ev : box->snapshot())
    ids.push_back(ev.id);
  (*self)->send(s, ack_atom::value, std::string{"backlog-s"}, ids);
  BOOST_TEST(wait_until([&] { return stats(s).pending == 0u; }, 3s));
  BOOST_TEST(stats(s).lag == 0);
  close(s);
}

BOOST_AUTO_TEST_CASE(no_ack_mode_leaves_nothing_pending) {
  auto o = fast();
  o.no_ack = true;
  auto s = make("noack", {"na"}, o);
  auto box = attach(s, false);
  for (int i = 0; i < 10; ++i)
    add("na", std::to_string(i));
  BOOST_REQUIRE(wait_until([&] { return box->size() == 10; }));
  BOOST_TEST(pending("na", "noack") == 0);
}

BOOST_AUTO_TEST_CASE(several_streams_add_and_remove) {
  auto s = make("multi", {"m1"}, fast());
  auto box = attach(s, true);
  (*self)->request(s, 5s, add_stream_atom::value, std::string{"m2"},
                   std::string{})
    .receive([](bool b) { BOOST_TEST(b); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  (*self)->request(s, 5s, add_stream_atom::value, std::string{"m2"},
                   std::string{})
    .receive([](bool b) { BOOST_TEST(!b); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  add("m1", "a");
  add("m2", "b");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 2; }));
  (*self)->request(s, 5s, rm_stream_atom::value, std::string{"m1"})
    .receive([](bool b) { BOOST_TEST(b); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  add("m2", "c");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 3; }));
  // The last member leaving m1 destroyed its group.
  BOOST_TEST(wait_until([&] {
    auto g = redis()("XINFO", "GROUPS", "pulse:stream:m1");
    return g && g->elements.empty();
  }));
}

BOOST_AUTO_TEST_CASE(sinks_run_on_the_scheduler_unless_detached) {
  auto is_detached = [](const sink_actor& s) {
    return caf::actor_cast<caf::abstract_actor*>(s)->getf(
      caf::abstract_actor::is_detached_flag);
  };
  auto o = fast();
  auto scheduled = make("on-scheduler", {"ds1"}, o);
  o.detached = true;
  auto own_thread = make("own-thread", {"ds2"}, o);
  BOOST_TEST(!is_detached(scheduled));
  BOOST_TEST(is_detached(own_thread));
  // The default follows pulse.streaming.detached-sinks (off).
  BOOST_TEST(!sink_options{}.detached);
  pulse::config cfg;
  auto err = cfg.read({"--pulse.streaming.detached-sinks"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(sink_options::from(cfg.opts().streaming).detached);
  // Both deliver.
  auto a = attach(scheduled, true);
  auto b = attach(own_thread, true);
  add("ds1", "x");
  add("ds2", "y");
  BOOST_TEST(wait_until([&] { return a->size() == 1 && b->size() == 1; }));
  BOOST_TEST(wait_until([&] {
    return pending("ds1", "on-scheduler") == 0
           && pending("ds2", "own-thread") == 0;
  }));
}

BOOST_AUTO_TEST_CASE(sinks_cost_one_thread_each) {
  // A sink's own threads: the reader thread of its blocking connection.
  // The sink, its blocking gateway and its janitor run on the scheduler; the
  // janitors' checks run on one janitor host per process.
  auto before = thread_count();
  constexpr size_t n = 20;
  auto o = fast();
  std::vector<sink_actor> sinks;
  std::vector<std::shared_ptr<event_inbox>> boxes;
  for (size_t i = 0; i < n; ++i) {
    sinks.push_back(make("thr" + std::to_string(i), {"thr"}, o));
    boxes.push_back(attach(sinks.back(), i != 0)); // sink 0 never acks
  }
  size_t grown = 0;
  BOOST_TEST(wait_until([&] {
    grown = thread_count() - before;
    return grown <= n + 2; // + the janitor host (+ one connect helper)
  }));
  BOOST_TEST_MESSAGE("threads for " << n << " sinks: " << grown);
  // And they all work, janitors included: the event sink 0 leaves unacked
  // is reclaimed after ack_grace and delivered again.
  add("thr", "x");
  BOOST_TEST(wait_until([&] {
    for (auto& b : boxes)
      if (b->size() < 1)
        return false;
    return true;
  }));
  BOOST_TEST(wait_until([&] {
    for (size_t i = 1; i < n; ++i)
      if (pending("thr", "thr" + std::to_string(i)) != 0)
        return false;
    return true;
  }));
  BOOST_TEST(wait_until([&] { return boxes[0]->size() >= 2; }));
  BOOST_TEST(pending("thr", "thr0") == 1);
}

BOOST_AUTO_TEST_CASE(plain_cpp_facade_iterates_and_acks) {
  auto s = make("facade", {"fc"}, fast());
  auto sub = subscription::attach(*sys, s);
  BOOST_REQUIRE_MESSAGE(sub, describe(sub));
  auto st = *stream::make("fc");
  for (int i = 0; i < 30; ++i)
    st.add(redis(), "ev", std::to_string(i));
  for (int i = 0; i < 30; ++i) {
    auto ev = (*sub)->next(5000ms);
    BOOST_REQUIRE(ev);
    BOOST_TEST(ev->payload == std::to_string(i));
    if (i == 7)
      (*sub)->nack(*ev, "later");
    else
      (*sub)->ack(*ev);
  }
  // The nacked one comes back after the grace period.
  auto again = (*sub)->next(5000ms);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->payload == "7");
  (*sub)->ack(*again);
  BOOST_TEST(wait_until([&] { return pending("fc", "facade") == 0; }));
  BOOST_TEST(!(*sub)->next(100ms));
}

BOOST_AUTO_TEST_SUITE_END()
