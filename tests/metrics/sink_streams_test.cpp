// Per-stream series of a sink reading two streams: each stream's pending,
// lag and entries read (what Redis reports for the group on that stream)
// and this process' delivered, acked and nacked counts come out apart,
// before reading, after reading without acks, and after acks and nacks.

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

BOOST_AUTO_TEST_SUITE_END()
