// The configured sections apply wherever a program passes no options:
// `[pulse.streaming]` for streams and sinks, through the facades and the
// runtime actor.

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/messages/runtime.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/runtime_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

// Nacks every event it gets.
caf::behavior nacker(caf::event_based_actor* self, sink_actor sink) {
  return {
    [=](const event_batch& batch) {
      for (auto& ev : batch.events)
        self->send(sink, nack_atom::value, ev.stream, ev.id,
                   std::string{"no"});
      return true;
    },
  };
}

} // namespace

// A runtime whose `[pulse.streaming]` section differs from the defaults:
// one delivery before dead-lettering, short grace and check periods,
// unbounded streams.
struct configured_fixture : configured_runtime {
  configured_fixture()
    : configured_runtime([](options& o) {
        o.streaming.max_deliveries = 1;
        o.streaming.ack_grace_period = 100ms;
        o.streaming.idle_check = 50ms;
        o.streaming.block_duration = 100ms;
        o.streaming.stream_max_len = 0;
      }) {
    // nop
  }

  int64_t xlen(const std::string& key) {
    auto r = (*redis)("XLEN", key);
    return r ? r->integer : -1;
  }

  void subscribe_nacker(const sink_actor& sink) {
    auto sub = sys->spawn(nacker, sink);
    (*self)
      ->request(sink, 5s, sub_atom::value,
                caf::actor_cast<event_subscriber_actor>(sub))
      .receive([](bool) {},
               [](caf::error& err) { BOOST_FAIL(render(err)); });
  }
};

BOOST_FIXTURE_TEST_SUITE(configured_defaults, configured_fixture)

BOOST_AUTO_TEST_CASE(stream_facade_uses_streaming_section) {
  auto s = stream::make(*rt, "cfg-stream");
  BOOST_REQUIRE(s);
  BOOST_TEST(s->opts().max_len == 0u);
  BOOST_TEST(stream::make("cfg-stream")->opts().max_len == 1000u);
}

BOOST_AUTO_TEST_CASE(sink_facade_uses_streaming_section) {
  // With the defaults (10 deliveries, 20 s grace) this event would stay
  // pending for minutes; with the section it is dead-lettered at once.
  auto sink = spawn_sink(*rt, "cfg-sink", {"cfg-a"});
  BOOST_REQUIRE(sink);
  subscribe_nacker(*sink);
  auto s = stream::make(*rt, "cfg-a");
  BOOST_REQUIRE(s->add(*redis, "ev", "x"));
  BOOST_TEST(wait_until(
    [&] { return xlen("pulse:stream:cfg-a:dead-letter") == 1; }, 5s));
  (*self)->send_exit(*sink, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(runtime_actor_uses_streaming_section) {
  auto rta = rt->actor();
  sink_actor sink;
  (*self)
    ->request(rta, 10s, spawn_sink_atom::value, std::string{"cfg-sink2"},
              std::vector<std::string>{"cfg-b"})
    .receive([&](sink_actor& x) { sink = std::move(x); },
             [](caf::error& err) { BOOST_FAIL(render(err)); });
  subscribe_nacker(sink);
  // Stream adds without options: unbounded (the default trims to ~1000).
  for (int i = 0; i < 1100; ++i)
    (*self)
      ->request(rta, 10s, stream_add_atom::value, std::string{"cfg-b"},
                std::string{"ev"}, std::to_string(i), std::string{})
      .receive([](const std::string&) {},
               [](caf::error& err) { BOOST_FAIL(render(err)); });
  BOOST_TEST(xlen("pulse:stream:cfg-b") == 1100);
  BOOST_TEST(wait_until(
    [&] { return xlen("pulse:stream:cfg-b:dead-letter") == 1100; }, 10s));
  (*self)->send_exit(sink, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
