// Stream readers against a real Redis.

#include <boost/test/unit_test.hpp>

#include "pulse/actors/streaming/reader.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "tests/support/collector.hpp"
#include "pulse/actors/streaming/filter.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

struct reader_fixture : actor_fixture {
  reader_options fast() {
    reader_options o;
    o.block = 50ms;
    return o;
  }

  // Spawns a reader and one collecting subscriber.
  std::pair<reader_actor, std::shared_ptr<event_inbox>>
  start(std::vector<std::string> streams, reader_options o) {
    auto r = spawn_reader(*rt, std::move(streams), o);
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    auto box = std::make_shared<event_inbox>();
    subscribe(*r, box);
    return {*r, box};
  }

  void subscribe(const reader_actor& r, std::shared_ptr<event_inbox> box) {
    auto sub = sys->spawn(collector, box, caf::actor{});
    subs.push_back(sub);
    (*self)->request(r, 5s, sub_atom::value,
                  caf::actor_cast<pulse::event_subscriber_actor>(sub))
      .receive([](bool ok) { BOOST_TEST(ok); },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
  }

  std::string add(const std::string& s, const std::string& name,
                  const std::string& payload, const std::string& topic = {}) {
    auto id = stream::make(s)->add(redis(), name, payload, topic);
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    return *id;
  }

  ~reader_fixture() {
    for (auto& s : subs)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }

  std::vector<caf::actor> subs;
};

BOOST_FIXTURE_TEST_SUITE(reader, reader_fixture)

BOOST_AUTO_TEST_CASE(invalid_pattern_and_names_are_rejected) {
  auto o = fast();
  o.topic_pattern = "(";
  auto r = spawn_reader(*rt, {"s"}, o);
  BOOST_REQUIRE(!r);
  BOOST_TEST(render(r.error()).find("topic pattern must be a valid regex: ")
               != std::string::npos,
             render(r.error()));
  BOOST_TEST(!spawn_reader(*rt, {"bad name"}, fast()).engaged());
  BOOST_TEST(!spawn_reader(*rt, {}, fast()).engaged());
}

BOOST_AUTO_TEST_CASE(long_topics_never_crash_the_pattern_filter) {
  // A 200 KB topic (any client can write one) overflowed the stack of
  // std::regex_search; such topics now never match a pattern.
  stream_read_options o;
  o.topic_pattern = "eu\\..*";
  auto f = topic_filter::make(o);
  BOOST_REQUIRE(f);
  event ev;
  ev.topic = "eu." + std::string(200000, 'x');
  BOOST_TEST(!f->passes(ev));
  ev.topic = "eu.north";
  BOOST_TEST(f->passes(ev));
  ev.topic = "us.east";
  BOOST_TEST(!f->passes(ev));
}

BOOST_AUTO_TEST_CASE(oldest_delivers_existing_events) {
  auto id1 = add("s", "foo", "bar");
  auto o = fast();
  o.start = "0";
  auto [r, box] = start({"s"}, o);
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  auto ev = box->snapshot()[0];
  BOOST_TEST(ev.id == id1);
  BOOST_TEST(ev.stream == "s");
  BOOST_TEST(ev.sink.empty());
  BOOST_TEST(ev.name == "foo");
  BOOST_TEST(ev.payload == "bar");
  BOOST_TEST(ev.topic.empty());
  BOOST_TEST(ev.created_at_ms() == std::stoll(id1.substr(0, id1.find('-'))));
}

BOOST_AUTO_TEST_CASE(start_after_id) {
  auto id1 = add("s", "e", "1");
  auto id2 = add("s", "e", "2");
  auto o = fast();
  o.start = id1;
  auto [r, box] = start({"s"}, o);
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(box->size() == 1u);
  BOOST_TEST(box->snapshot()[0].id == id2);
  o.start = "0";
  auto [r2, box2] = start({"s"}, o);
  BOOST_REQUIRE(wait_until([&] { return box2->size() == 2; }));
  BOOST_TEST(box2->snapshot()[0].payload == "1");
  BOOST_TEST(box2->snapshot()[1].payload == "2");
}

BOOST_AUTO_TEST_CASE(start_at_timestamp) {
  add("s", "e", "old");
  std::this_thread::sleep_for(20ms);
  auto cut = unix_ms();
  std::this_thread::sleep_for(5ms);
  add("s", "e", "new");
  auto o = fast();
  o.start = reader_options::start_at(cut);
  BOOST_TEST(o.start == std::to_string(cut) + "-0");
  auto [r, box] = start({"s"}, o);
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(box->size() == 1u);
  BOOST_TEST(box->snapshot()[0].payload == "new");
}

BOOST_AUTO_TEST_CASE(newest_misses_nothing_written_after_creation) {
  add("s", "e", "before");
  auto r = spawn_reader(*rt, {"s"}, fast());
  BOOST_REQUIRE(r);
  std::this_thread::sleep_for(50ms); // "$" resolved meanwhile
  // Written after the reader was created but before anyone subscribed: Go
  // Pulse re-sends "$" and loses these; we keep them.
  add("s", "e", "after1");
  auto box = std::make_shared<event_inbox>();
  subscribe(*r, box);
  add("s", "e", "after2");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 2; }));
  BOOST_TEST(box->snapshot()[0].payload == "after1");
  BOOST_TEST(box->snapshot()[1].payload == "after2");
}

BOOST_AUTO_TEST_CASE(every_reader_and_subscriber_sees_every_event) {
  auto o = fast();
  o.start = "0";
  auto [r1, box1] = start({"fan"}, o);
  auto box1b = std::make_shared<event_inbox>();
  subscribe(r1, box1b);
  auto [r2, box2] = start({"fan"}, o);
  for (int i = 0; i < 50; ++i)
    add("fan", "e", std::to_string(i));
  for (auto& box : {box1, box1b, box2}) {
    BOOST_REQUIRE(wait_until([&] { return box->size() == 50; }));
    auto evs = box->snapshot();
    for (int i = 0; i < 50; ++i)
      BOOST_TEST(evs[i].payload == std::to_string(i));
  }
}

BOOST_AUTO_TEST_CASE(add_and_remove_streams) {
  auto o = fast();
  o.start = "0";
  auto [r, box] = start({"s1"}, o);
  bool added = false;
  for (int i = 0; i < 2; ++i)
    (*self)->request(r, 5s, add_stream_atom::value, std::string{"s2"},
                     std::string{})
      .receive([&](bool b) { added = added || b; },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(added);
  add("s1", "e", "a");
  add("s2", "e", "b");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 2; }));
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(box->size() == 2u); // adding twice did not duplicate
  (*self)->request(r, 5s, rm_stream_atom::value, std::string{"s2"})
    .receive([](bool b) { BOOST_TEST(b); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  (*self)->request(r, 5s, rm_stream_atom::value, std::string{"s2"})
    .receive([](bool b) { BOOST_TEST(!b); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  add("s2", "e", "ignored");
  add("s1", "e", "c");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 3; }));
  std::this_thread::sleep_for(100ms);
  auto evs = box->snapshot();
  BOOST_REQUIRE_EQUAL(evs.size(), 3u);
  BOOST_TEST(evs[2].payload == "c");
}

BOOST_AUTO_TEST_CASE(topic_and_pattern_filters) {
  auto o = fast();
  o.start = "0";
  o.topic = "red";
  auto [r1, exact] = start({"t"}, o);
  o.topic.clear();
  o.topic_pattern = "^bl";
  auto [r2, pattern] = start({"t"}, o);
  add("t", "e", "1", "red");
  add("t", "e", "2", "blue");
  add("t", "e", "3", "");
  add("t", "e", "4", "black");
  BOOST_REQUIRE(wait_until([&] { return exact->size() == 1; }));
  BOOST_REQUIRE(wait_until([&] { return pattern->size() == 2; }));
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(exact->snapshot()[0].payload == "1");
  BOOST_TEST(pattern->snapshot()[0].payload == "2");
  BOOST_TEST(pattern->snapshot()[1].payload == "4");
  caf::expected<stream_stats> st{stream_stats{}};
  (*self)->request(r1, 5s, stats_atom::value)
    .receive([&](stream_stats& x) { st = x; },
             [&](caf::error& e) { st = e; });
  BOOST_TEST(st->filtered == 3u);
}

BOOST_AUTO_TEST_CASE(malformed_entries_are_skipped) {
  auto o = fast();
  o.start = "0";
  redis()("XADD", "pulse:stream:m", "*", "x", "1");          // no n, no p
  redis()("XADD", "pulse:stream:m", "*", "n", "only-name");  // no p
  add("m", "ok", "payload");
  auto [r, box] = start({"m"}, o);
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  BOOST_TEST(box->snapshot()[0].name == "ok");
  caf::expected<stream_stats> st{stream_stats{}};
  (*self)->request(r, 5s, stats_atom::value)
    .receive([&](stream_stats& x) { st = x; },
             [&](caf::error& e) { st = e; });
  BOOST_TEST(st->malformed == 2u);
}

BOOST_AUTO_TEST_CASE(slow_subscriber_gets_bounded_batches) {
  auto o = fast();
  o.start = "0";
  o.buffer_size = 10;
  auto r = spawn_reader(*rt, {"bp"}, o);
  BOOST_REQUIRE(r);
  auto box = std::make_shared<event_inbox>();
  box->delay = 20ms;
  subscribe(*r, box);
  std::vector<command> cmds;
  auto s = *stream::make("bp");
  for (int i = 0; i < 100; ++i)
    for (auto& c : s.add_commands("e", std::to_string(i)))
      cmds.push_back(c);
  redis().batch(cmds);
  BOOST_REQUIRE(wait_until([&] { return box->size() == 100; }, 10s));
  auto evs = box->snapshot();
  for (int i = 0; i < 100; ++i)
    BOOST_TEST(evs[i].payload == std::to_string(i));
}

BOOST_AUTO_TEST_CASE(subscriber_dying_mid_batch_does_not_stall_others) {
  auto o = fast();
  o.start = "0";
  auto [r, box] = start({"die"}, o);
  // A subscriber that dies on its first batch without ever replying: it
  // parks the reply promise outside itself (so no error reply is sent for
  // it either) and quits. Only the down message can unblock the reader.
  auto parked = std::make_shared<std::vector<caf::response_promise>>();
  auto dying = sys->spawn([parked](caf::event_based_actor* me) -> caf::behavior {
    return {
      [me, parked](event_batch&) {
        parked->push_back(me->make_response_promise());
        me->quit(caf::exit_reason::user_shutdown);
      },
    };
  });
  (*self)->request(r, 5s, sub_atom::value,
                  caf::actor_cast<pulse::event_subscriber_actor>(dying))
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  for (int i = 0; i < 5; ++i)
    add("die", "e", std::to_string(i));
  BOOST_REQUIRE(wait_until([&] { return box->size() == 5; }));
  add("die", "e", "after");
  BOOST_TEST(wait_until([&] { return box->size() == 6; }));
  caf::expected<stream_stats> st{stream_stats{}};
  (*self)->request(r, 5s, stats_atom::value)
    .receive([&](stream_stats& x) { st = x; },
             [&](caf::error& e) { st = e; });
  BOOST_TEST(st->subscribers == 1u);
}

BOOST_AUTO_TEST_CASE(close_keeps_the_stream_and_is_idempotent) {
  add("c", "e", "x");
  auto [r, box] = start({"c"}, fast());
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  (*self)->wait_for(r);
  BOOST_TEST(*redis()("EXISTS", "pulse:stream:c")->as_integer() == 1);
}

BOOST_AUTO_TEST_CASE(reader_survives_redis_restart) {
  auto o = fast();
  o.start = "0";
  auto [r, box] = start({"rs"}, o);
  add("rs", "e", "1");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  server().kill();
  std::this_thread::sleep_for(200ms);
  BOOST_REQUIRE(!server().restart());
  // The data set is gone (no AOF): the cursor is ahead of the new stream's
  // IDs only if the clock went backwards, so new entries arrive.
  BOOST_REQUIRE(wait_until([&] { return redis()("PING").engaged(); }));
  add("rs", "e", "2");
  BOOST_TEST(wait_until([&] { return box->size() == 2; }, 10s));
}

BOOST_AUTO_TEST_SUITE_END()
