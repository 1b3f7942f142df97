// Sinks (consumer groups) against a real Redis: events trimmed from a
// stream before the sink's group read them are reported.

#include <boost/test/unit_test.hpp>

#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/trim.hpp"
#include "tests/streaming/sink_fixture.hpp"
#include "tests/support/log_capture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(sink, sink_fixture)

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
