// Sinks (consumer groups) against a real Redis, including a sink process
// killed with SIGKILL.

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "tests/support/collector.hpp"
#include "pulse/actors/streaming/trim.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/log_capture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

constexpr auto grace = 200ms;

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

struct sink_fixture : actor_fixture {
  sink_options fast() {
    sink_options o;
    o.block = 50ms;
    o.ack_grace = grace;
    o.idle_check = 50ms;
    o.start = "0";
    return o;
  }

  sink_actor make(const std::string& name, std::vector<std::string> streams,
                  sink_options o) {
    auto s = spawn_sink(*rt, name, std::move(streams), o);
    BOOST_REQUIRE_MESSAGE(s, describe(s));
    return *s;
  }

  // Subscribes a collector; acks automatically when `auto_ack`.
  std::shared_ptr<event_inbox> attach(const sink_actor& s, bool auto_ack) {
    auto box = std::make_shared<event_inbox>();
    auto sub = sys->spawn(collector, box,
                          auto_ack ? caf::actor_cast<caf::actor>(s)
                                   : caf::actor{});
    attach_actor(s, sub);
    return box;
  }

  void attach_actor(const sink_actor& s, caf::actor sub) {
    subs.push_back(sub);
    (*self)->request(s, 5s, sub_atom::value,
                     caf::actor_cast<event_subscriber_actor>(sub))
      .receive([](bool ok) { BOOST_TEST(ok); },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
  }

  std::string add(const std::string& s, const std::string& payload,
                  const std::string& topic = {}) {
    auto id = stream::make(s)->add(redis(), "ev", payload, topic);
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    return *id;
  }

  int64_t pending(const std::string& s, const std::string& group) {
    auto r = redis()("XPENDING", "pulse:stream:" + s, group);
    return r && r->is_array() ? r->elements[0].integer : -1;
  }

  stream_stats stats(const sink_actor& s) {
    stream_stats result;
    (*self)->request(s, 5s, stats_atom::value)
      .receive([&](stream_stats& x) { result = x; },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
    return result;
  }

  void close(const sink_actor& s) {
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    (*self)->wait_for(s);
  }

  ~sink_fixture() {
    for (auto& s : subs)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }

  std::vector<caf::actor> subs;
};

} // namespace

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
  add("r", "once");
  BOOST_REQUIRE(wait_until([&] { return box->size() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE(wait_until([&] { return box->size() == 2; }, 5s));
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

BOOST_AUTO_TEST_CASE(events_trimmed_before_the_sink_read_them_are_reported) {
  // The sink reads 5 events and stops; 1000 more arrive on a stream capped
  // at ~100: about 900 are trimmed unread. The next instance reports them
  // (warning, stats) before reading the rest.
  stream_options capped;
  capped.max_len = 100;
  auto st = *stream::make("capped", capped);
  auto first = make("late", {"capped"}, fast());
  auto box = attach(first, true);
  for (int i = 0; i < 5; ++i)
    BOOST_REQUIRE(st.add(redis(), "ev", std::to_string(i)));
  BOOST_REQUIRE(wait_until([&] { return box->size() >= 5; }));
  close(first);
  for (int i = 0; i < 1000; ++i)
    BOOST_REQUIRE(st.add(redis(), "ev", std::to_string(i)));
  log_capture logs;
  auto second = make("late", {"capped"}, fast());
  auto n = stats(second).trimmed;
  auto len = redis()("XLEN", "pulse:stream:capped")->integer;
  // The group read 5, or 6 when the stopped instance's last blocking read
  // took one more (it stays pending and is reclaimed); the second instance
  // has no subscriber, so it has read nothing yet.
  auto groups = redis()("XINFO", "GROUPS", "pulse:stream:capped");
  int64_t read = -1;
  for (auto& g : groups->elements)
    for (size_t i = 0; i + 1 < g.elements.size(); i += 2)
      if (g.elements[i].str == "entries-read")
        read = g.elements[i + 1].integer;
  BOOST_TEST((read == 5 || read == 6), read);
  // Exactly what was added and neither read nor still in the stream.
  BOOST_TEST(n == static_cast<uint64_t>(1005 - read - len),
             n << " vs " << read << " read, " << len << " left");
  BOOST_TEST(n >= 800u);
  BOOST_TEST(logs.contains("sink lost events trimmed before it read them"));
  // No trimming, nothing reported.
  auto other = make("on-time", {"capped"}, fast());
  BOOST_TEST(stats(other).trimmed == 0u);
}

BOOST_AUTO_TEST_CASE(trim_check_parses_redis_replies) {
  using resp::value;
  auto bulk = [](std::string x) { return value::make_bulk(std::move(x)); };
  auto arr = [](std::vector<value> xs) {
    value v;
    v.type = resp::kind::array;
    v.elements = std::move(xs);
    return v;
  };
  // 1,005 added, 105 left starting at 10-900 (as XINFO STREAM says).
  auto info = arr({bulk("length"), value::make_integer(105),
                   bulk("entries-added"), value::make_integer(1005),
                   bulk("first-entry"),
                   arr({bulk("10-900"), arr({bulk("n"), bulk("e")})})});
  auto group = [&](std::string name, std::string last, value read) {
    return arr({bulk("name"), bulk(std::move(name)),
                bulk("last-delivered-id"), bulk(std::move(last)),
                bulk("entries-read"), std::move(read)});
  };
  auto groups = [&](value g) { return arr({std::move(g)}); };
  auto r = parse_trim_check(
    {info, groups(group("g", "10-5", value::make_integer(5)))}, "g");
  BOOST_TEST(r.lost);
  BOOST_TEST(r.count == 895u);
  BOOST_TEST(r.first_entry == "10-900");
  // Read up to the oldest entry left: nothing lost.
  r = parse_trim_check(
    {info, groups(group("g", "10-950", value::make_integer(950)))}, "g");
  BOOST_TEST(!r.lost);
  // Redis cannot count (entries-read nil): no guess.
  r = parse_trim_check({info, groups(group("g", "10-5", value::make_nil()))},
                       "g");
  BOOST_TEST(!r.lost);
  // Another group, errors, garbage: no report.
  BOOST_TEST(!parse_trim_check(
                {info, groups(group("h", "10-5", value::make_integer(5)))},
                "g")
                .lost);
  BOOST_TEST(!parse_trim_check({value::make_error("ERR"), value{}}, "g").lost);
  BOOST_TEST(!parse_trim_check({}, "g").lost);
  BOOST_TEST(entry_id_after("10-2", "9-99"));
  BOOST_TEST(!entry_id_after("10-2", "10-2"));
  BOOST_TEST(entry_id_after("10-10", "10-9"));
}

BOOST_AUTO_TEST_SUITE_END()
