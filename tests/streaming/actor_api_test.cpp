// The streaming package used the way a CAF program composes it: an
// event-based actor spawns a sink through the runtime actor, adds events
// by message, subscribes its own actor that acks and nacks, and stops the
// sink: no scoped_actor and no blocking call on its side.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <future>

#include <caf/event_based_actor.hpp>

#include "pulse/messages/runtime.hpp"
#include "pulse/actors/streaming/reader.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/actor_report.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using check_atom = caf::atom_constant<caf::atom("t_check")>;

struct report {
  std::string error;
  stream_stats stats;
  int good = 0; // deliveries of the event the subscriber acks
  int bad = 0;  // deliveries of the event it nacks
  bool sink_down = false;
};

struct counts {
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
};

// Acks "good", nacks everything else.
caf::behavior subscriber(caf::event_based_actor* self, sink_actor sink,
                         std::shared_ptr<counts> n) {
  return {
    [=](const event_batch& batch) {
      for (auto& ev : batch.events) {
        if (ev.payload == "good") {
          ++n->good;
          self->send(sink, ack_atom::value, ev.stream, ev.id);
        } else {
          ++n->bad;
          self->send(sink, nack_atom::value, ev.stream, ev.id,
                     std::string{"no thanks"});
        }
      }
      return true;
    },
  };
}

caf::behavior app(caf::event_based_actor* self, runtime_actor rt,
                  std::shared_ptr<std::promise<report>> out) {
  auto n = std::make_shared<counts>();
  auto sink = std::make_shared<sink_actor>();
  auto fail = failing(self, out);
  sink_options opts;
  opts.start = "0";
  opts.block = 50ms;
  opts.ack_grace = 150ms;
  opts.idle_check = 30ms;
  opts.max_deliveries = 2;
  self->request(rt, 10s, spawn_sink_atom::value, std::string{"app-sink"},
                std::vector<std::string>{"app-orders"}, opts)
    .then(
      [=](sink_actor s) {
        *sink = s;
        self->monitor(s);
        auto sub = self->spawn(subscriber, s, n);
        self->request(s, 5s, sub_atom::value,
                  caf::actor_cast<pulse::event_subscriber_actor>(sub))
          .then(
            [=](bool) {
              for (auto payload : {"good", "bad"})
                self
                  ->request(rt, 5s, stream_add_atom::value,
                            std::string{"app-orders"}, std::string{"order"},
                            std::string{payload}, std::string{},
                            stream_options{})
                  .then([](const std::string&) {},
                        [=](caf::error& e) { fail("stream add", e); });
              self->send(self, check_atom::value);
            },
            [=](caf::error& e) { fail("subscribe", e); });
      },
      [=](caf::error& e) { fail("spawn sink", e); });
  self->set_down_handler([=](const caf::down_msg& msg) {
    if (msg.source != sink->address())
      return;
    report r;
    r.good = n->good;
    r.bad = n->bad;
    r.sink_down = true;
    out->set_value(r);
    self->quit();
  });
  return {
    // Polls the sink's counters until the nacked event is dead-lettered,
    // then stops the sink.
    [=](check_atom) {
      self->request(*sink, 5s, stats_atom::value)
        .then(
          [=](const stream_stats& st) {
            if (st.dead_lettered >= 1 && st.acked >= 1) {
              self->send_exit(*sink, caf::exit_reason::user_shutdown);
              return;
            }
            self->delayed_send(self, 20ms, check_atom::value);
          },
          [=](caf::error& e) { fail("stats", e); });
    },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(streaming_actor_api, actor_fixture)

BOOST_AUTO_TEST_CASE(an_actor_spawns_a_sink_acks_nacks_and_stops_it) {
  auto reported = run_app<report>(*sys, 20s, app, rt->actor());
  BOOST_REQUIRE(reported);
  auto& r = *reported;
  BOOST_REQUIRE_MESSAGE(r.error.empty(), r.error);
  BOOST_TEST(r.sink_down);
  BOOST_TEST(r.good == 1);
  // Delivered, nacked, redelivered after the grace period, nacked again,
  // then dead-lettered (max_deliveries = 2).
  BOOST_TEST(r.bad == 2);
  auto dl = redis().call(
    make_command("XRANGE", "pulse:stream:app-orders:dead-letter", "-", "+"));
  BOOST_REQUIRE_MESSAGE(dl, describe(dl));
  BOOST_REQUIRE(dl->elements.size() == 1u);
  BOOST_TEST(dl->render().find("no thanks") != std::string::npos);
  auto pending = redis().call(
    make_command("XPENDING", "pulse:stream:app-orders", "app-sink"));
  BOOST_REQUIRE_MESSAGE(pending, describe(pending));
  BOOST_TEST(pending->elements.at(0).integer == 0);
}

BOOST_AUTO_TEST_CASE(spawn_errors_reach_the_requesting_actor) {
  auto out = std::make_shared<std::promise<caf::error>>();
  auto result = out->get_future();
  sys->spawn([out](caf::event_based_actor* self, runtime_actor rt) {
    self->request(rt, 5s, spawn_sink_atom::value, std::string{"bad name"},
                  std::vector<std::string>{"s"}, sink_options{})
      .then([out](sink_actor) { out->set_value(caf::error{}); },
            [out](caf::error& e) { out->set_value(e); });
  }, rt->actor());
  BOOST_REQUIRE(result.wait_for(10s) == std::future_status::ready);
  auto err = result.get();
  BOOST_TEST(code_of(err) == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_subscriber_answering_no_bool_is_dropped_with_a_warning) {
  log_capture logs;
  reader_options o;
  o.block = 50ms;
  auto r = spawn_reader(*rt, {"odd"}, o);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  auto odd = sys->spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](const event_batch&) { return std::string{"not a bool"}; }};
  });
  (*self)->request(*r, 5s, sub_atom::value,
                  caf::actor_cast<pulse::event_subscriber_actor>(odd)).receive([](bool) {},
                                                       [](caf::error&) {});
  redis()("XADD", "pulse:stream:odd", "*", "n", "ev", "p", "x");
  BOOST_TEST(wait_until(
    [&] { return logs.contains("dropped a subscriber that did not answer"); }));
  stream_stats st;
  (*self)->request(*r, 5s, stats_atom::value)
    .receive([&](const stream_stats& x) { st = x; }, [](caf::error&) {});
  BOOST_TEST(st.subscribers == 0u);
  (*self)->send_exit(*r, caf::exit_reason::user_shutdown);
  (*self)->send_exit(odd, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_subscriber_that_does_not_answer_is_named_in_a_warning) {
  log_capture logs;
  reader_options o;
  o.block = 50ms;
  o.slow_subscriber = 100ms;
  auto r = spawn_reader(*rt, {"slow"}, o);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  // Keeps every batch's promise without answering it.
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  auto mute = sys->spawn([held](caf::event_based_actor* s) -> caf::behavior {
    return {[=](const event_batch&) {
      held->push_back(s->make_response_promise());
    }};
  });
  (*self)->request(*r, 5s, sub_atom::value,
                  caf::actor_cast<pulse::event_subscriber_actor>(mute)).receive([](bool) {},
                                                        [](caf::error&) {});
  redis()("XADD", "pulse:stream:slow", "*", "n", "ev", "p", "x");
  BOOST_TEST(wait_until(
    [&] { return logs.contains("subscriber has not answered"); }));
  (*self)->send_exit(*r, caf::exit_reason::user_shutdown);
  (*self)->send_exit(mute, caf::exit_reason::user_shutdown);
}

// `(stream_add_id_atom, ...)`: the producer's entry ID, idempotent on
// retries, in both trim modes.
BOOST_AUTO_TEST_CASE(the_runtime_actor_adds_with_the_producers_id) {
  auto& c = redis();
  auto rta = rt->actor();
  auto add = [&](const std::string& id, const std::string& payload,
                 const stream_options& o) {
    caf::expected<std::string> result{std::string{}};
    (*self)
      ->request(rta, 10s, stream_add_id_atom::value, std::string{"rt-ids"},
                id, std::string{"ev"}, payload, std::string{"tp"}, o)
      .receive([&](std::string& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  stream_options safe;
  safe.max_len = 10;
  safe.trim = trim_mode::safe;
  auto xlen = [&] { return c("XLEN", "pulse:stream:rt-ids")->integer; };
  for (auto o : {stream_options{}, safe}) {
    BOOST_REQUIRE(c("DEL", "pulse:stream:rt-ids"));
    auto id = add("1700000000000-1", "pay", o);
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    BOOST_TEST(*id == "1700000000000-1");
    auto retry = add("1700000000000-1", "pay", o);
    BOOST_REQUIRE_MESSAGE(retry, describe(retry));
    BOOST_TEST(*retry == "1700000000000-1");
    auto other = add("1700000000000-1", "other", o);
    BOOST_TEST(code_of(other.error()) == errc::invalid_argument);
    auto lower = add("1600000000000-1", "pay", o);
    BOOST_TEST(code_of(lower.error()) == errc::invalid_argument);
    BOOST_TEST(xlen() == 1);
    auto range = c("XRANGE", "pulse:stream:rt-ids", "-", "+");
    BOOST_TEST(range->elements.at(0).elements.at(1).render()
               == R"(["n", "ev", "p", "pay", "t", "tp"])");
  }
  // Without options the configured section applies (approximate, ~1000).
  caf::expected<std::string> plain{std::string{}};
  (*self)
    ->request(rta, 10s, stream_add_id_atom::value, std::string{"rt-ids"},
              std::string{"1800000000000-0"}, std::string{"ev"},
              std::string{"x"}, std::string{})
    .receive([&](std::string& x) { plain = std::move(x); },
             [&](caf::error& err) { plain = std::move(err); });
  BOOST_REQUIRE_MESSAGE(plain, describe(plain));
  BOOST_TEST(*plain == "1800000000000-0");
  // Bad names fail before any I/O.
  caf::error err;
  (*self)
    ->request(rta, 10s, stream_add_id_atom::value, std::string{"a b"},
              std::string{"1-1"}, std::string{"ev"}, std::string{"x"},
              std::string{})
    .receive([](std::string&) {}, [&](caf::error& e) { err = std::move(e); });
  BOOST_TEST(code_of(err) == errc::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
