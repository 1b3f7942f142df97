// Per-stream series of a sink reading two streams: each stream's pending,
// lag and entries read (what Redis reports for the group on that stream)
// and this process' delivered, acked and nacked counts come out apart,
// before reading, after reading without acks, and after acks and nacks;
// and per stream the events this process' janitor reclaimed (from another
// consumer after the idle time) and dead-lettered.

#include <chrono>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "tests/metrics/live_system.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(sink_streams)

BOOST_FIXTURE_TEST_CASE(series_are_split_per_stream, metrics_fixture) {
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(stream::make("s1")->add(*redis, "e", "one"));
  BOOST_REQUIRE(stream::make("s2")->add(*redis, "e", "two"));
  sink_options so;
  so.start = "0";
  auto s = spawn_sink(*rt, "multi", {"s1", "s2"}, so);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  auto value = [&](const std::string& family, const std::string& stream) {
    return sample_value(http_get(port(), "/metrics").body,
                        family + "{sink=\"multi\",stream=\"" + stream + "\"}")
      .value_or("<none>");
  };
  // No subscriber yet: nothing read, everything lags.
  BOOST_TEST(value("pulse_sink_stream_lag_events", "s1") == "3");
  BOOST_TEST(value("pulse_sink_stream_lag_events", "s2") == "1");
  BOOST_TEST(value("pulse_sink_stream_pending_events", "s1") == "0");
  BOOST_TEST(sample_value(http_get(port(), "/metrics").body,
                          "pulse_stream_length_events{stream=\"s1\"}")
               .value_or("<none>")
             == "3");
  // Read all four, ack none: pending per stream.
  auto sub = subscription::attach(*sys, *s);
  BOOST_REQUIRE_MESSAGE(sub, describe(sub));
  std::vector<event> got;
  for (int i = 0; i < 4; ++i) {
    auto ev = (*sub)->next(5000ms);
    BOOST_REQUIRE(ev);
    got.push_back(*ev);
  }
  BOOST_TEST(wait_until(
    [&] { return value("pulse_sink_stream_pending_events", "s1") == "3"; },
    10s));
  BOOST_TEST(value("pulse_sink_stream_pending_events", "s2") == "1");
  BOOST_TEST(value("pulse_sink_stream_lag_events", "s1") == "0");
  BOOST_TEST(value("pulse_sink_stream_lag_events", "s2") == "0");
  BOOST_TEST(value("pulse_sink_stream_entries_read_total", "s1") == "3");
  BOOST_TEST(value("pulse_sink_stream_entries_read_total", "s2") == "1");
  // Counted by this process, per stream.
  BOOST_TEST(value("pulse_sink_stream_events_delivered_total", "s1") == "3");
  BOOST_TEST(value("pulse_sink_stream_events_delivered_total", "s2") == "1");
  // The per-sink gauge is their sum.
  BOOST_TEST(sample_value(http_get(port(), "/metrics").body,
                          "pulse_sink_pending_events{sink=\"multi\","
                          "streams=\"s1,s2\"}")
               .value_or("<none>")
             == "4");
  // s1's events acked, s2's nacked (it stays pending until its grace
  // period is over).
  for (auto& ev : got) {
    if (ev.stream == "s1")
      (*sub)->ack(ev);
    else
      (*sub)->nack(ev, "no");
  }
  BOOST_TEST(wait_until(
    [&] {
      return value("pulse_sink_stream_pending_events", "s1") == "0"
             && value("pulse_sink_stream_events_acked_total", "s1") == "3";
    },
    10s));
  BOOST_TEST(value("pulse_sink_stream_pending_events", "s2") == "1");
  BOOST_TEST(value("pulse_sink_stream_events_acked_total", "s2") == "0");
  BOOST_TEST(value("pulse_sink_stream_events_nacked_total", "s2") == "1");
  BOOST_TEST(value("pulse_sink_stream_events_nacked_total", "s1") == "0");
  BOOST_TEST(value("pulse_sink_stream_dead_letters", "s1") == "0");
}

BOOST_FIXTURE_TEST_CASE(reclaims_and_dead_letters_are_counted_per_stream,
                        metrics_fixture) {
  // A consumer "ghost" of the group takes r1's entry and never acks it.
  BOOST_REQUIRE((*redis)("XGROUP", "CREATE", stream_key("r1"), "claimer", "0",
                         "MKSTREAM"));
  BOOST_REQUIRE(stream::make("r1")->add(*redis, "e", "taken"));
  auto taken = (*redis)("XREADGROUP", "GROUP", "claimer", "ghost", "COUNT",
                        "1", "STREAMS", stream_key("r1"), ">");
  BOOST_REQUIRE_MESSAGE(taken, describe(taken));
  BOOST_REQUIRE(taken->is_array() && taken->elements.size() == 1u);
  sink_options so;
  so.start = "0";
  so.ack_grace = 200ms;
  so.idle_check = 50ms;
  so.max_deliveries = 2;
  auto s = spawn_sink(*rt, "claimer", {"r1", "r2"}, so);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  auto sub = subscription::attach(*sys, *s);
  BOOST_REQUIRE_MESSAGE(sub, describe(sub));
  BOOST_REQUIRE(stream::make("r2")->add(*redis, "e", "poison"));
  auto value = [&](const std::string& family, const std::string& stream) {
    return sample_value(http_get(port(), "/metrics").body,
                        family + "{sink=\"claimer\",stream=\"" + stream
                          + "\"}")
      .value_or("<none>");
  };
  // r1's entry comes back once it was idle for the grace period (taken
  // over from ghost): ack it. r2's event is nacked every time, so it is
  // reclaimed after its first delivery and dead-lettered after its second.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  bool r1_seen = false;
  uint64_t r1_deliveries = 0;
  while (std::chrono::steady_clock::now() < deadline
         && !(r1_seen
              && value("pulse_sink_stream_events_dead_lettered_total", "r2")
                   == "1")) {
    auto ev = (*sub)->next(100ms);
    if (!ev)
      continue;
    if (ev->stream == "r1") {
      r1_seen = true;
      r1_deliveries = ev->deliveries;
      (*sub)->ack(*ev);
    } else {
      (*sub)->nack(*ev, "poison");
    }
  }
  BOOST_REQUIRE(r1_seen);
  BOOST_TEST(r1_deliveries == 2u);
  BOOST_TEST(value("pulse_sink_stream_events_reclaimed_total", "r1") == "1");
  BOOST_TEST(value("pulse_sink_stream_events_dead_lettered_total", "r1")
             == "0");
  BOOST_TEST(value("pulse_sink_stream_events_dead_lettered_total", "r2")
             == "1");
  // At least the one reclaim before the second delivery (one more if the
  // janitor's reclaim saw the entry idle just before its dead-letter check).
  auto r2_reclaimed =
    std::stoi(value("pulse_sink_stream_events_reclaimed_total", "r2"));
  BOOST_TEST(r2_reclaimed >= 1);
  BOOST_TEST(r2_reclaimed <= 2);
  BOOST_TEST(value("pulse_sink_stream_dead_letters", "r2") == "1");
  // The per-sink counters are the sums over the streams.
  auto text = http_get(port(), "/metrics").body;
  BOOST_TEST(sample_value(text, "pulse_sink_events_reclaimed_total{sink="
                                "\"claimer\",streams=\"r1,r2\"}")
               .value_or("<none>")
             == std::to_string(1 + r2_reclaimed));
  BOOST_TEST(sample_value(text, "pulse_sink_events_dead_lettered_total{sink="
                                "\"claimer\",streams=\"r1,r2\"}")
               .value_or("<none>")
             == "1");
  // The dashboard's state has them per stream too.
  auto state = http_get(port(), "/api/state").body;
  BOOST_TEST(state.find("\"stream\":\"r1\"") != std::string::npos, state);
  BOOST_TEST(state.find("\"reclaimed\":1,\"dead_lettered\":0")
               != std::string::npos,
             state);
}

BOOST_AUTO_TEST_SUITE_END()
