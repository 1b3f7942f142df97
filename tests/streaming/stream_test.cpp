// Stream handle: layout of entries (Go Pulse compatible), TTLs, limits.

#include <boost/test/unit_test.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(streams, actor_fixture)

BOOST_AUTO_TEST_CASE(names_are_validated) {
  for (auto bad : {"", "a b", "a*", "a?", "a[", "a]", "x\0y"}) {
    auto s = stream::make(std::string{bad, bad[0] == 'x' ? 3u : strlen(bad)});
    BOOST_REQUIRE(!s);
    BOOST_TEST(code_of(s.error()) == errc::invalid_argument);
  }
  auto s = stream::make("a b");
  BOOST_TEST(render(s.error())
             == "pulse.invalid_argument: pulse stream: not a valid name "
                "\"a b\"");
  BOOST_TEST(stream::make(std::string(512, 'x')).engaged());
  BOOST_TEST(!stream::make(std::string(513, 'x')).engaged());
  // 512 code points of 2 bytes each are fine.
  std::string wide;
  for (int i = 0; i < 512; ++i)
    wide += "\xc3\xa9";
  BOOST_TEST(stream::make(wide).engaged());
  stream_options neg;
  neg.ttl = -1s;
  BOOST_TEST(!stream::make("ok", neg).engaged());
}

BOOST_AUTO_TEST_CASE(add_writes_go_pulse_fields) {
  auto s = *stream::make("layout");
  auto id = s.add(redis(), "foo", "bar");
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  auto id2 = s.add(redis(), "foo", std::string{"b\0r", 3}, "tp");
  BOOST_REQUIRE(id2);
  auto range = redis()("XRANGE", "pulse:stream:layout", "-", "+");
  BOOST_REQUIRE_EQUAL(range->elements.size(), 2u);
  // Exactly n, p (and t) in this order.
  BOOST_TEST(range->elements[0].render()
             == "[\"" + *id + "\", [\"n\", \"foo\", \"p\", \"bar\"]]");
  BOOST_TEST(range->elements[1].elements[1].render()
             == std::string("[\"n\", \"foo\", \"p\", \"b\0r\", \"t\", \"tp\"]",
                            35));
  // The event's creation time is the ms part of its ID.
  auto ev = parse_entry(range->elements[0], "layout");
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->created_at_ms() == std::stoll(id->substr(0, id->find('-'))));
  BOOST_TEST(ev->name == "foo");
  BOOST_TEST(ev->payload == "bar");
}

BOOST_AUTO_TEST_CASE(remove_and_destroy) {
  auto s = *stream::make("rd");
  // Destroying a stream that was never written succeeds.
  BOOST_TEST(!s.destroy(redis()));
  auto a = *s.add(redis(), "e", "1");
  s.add(redis(), "e", "2");
  BOOST_TEST(*redis()("EXISTS", s.key())->as_integer() == 1);
  BOOST_TEST(*s.remove(redis(), {a}) == 1);
  BOOST_TEST(*redis()("XLEN", s.key())->as_integer() == 1);
  BOOST_TEST(!s.destroy(redis()));
  BOOST_TEST(*redis()("EXISTS", s.key())->as_integer() == 0);
}

BOOST_AUTO_TEST_CASE(max_len_trims_approximately) {
  stream_options opts;
  opts.max_len = 10;
  auto s = *stream::make("trim", opts);
  std::vector<command> cmds;
  for (int i = 0; i < 500; ++i)
    for (auto& c : s.add_commands("e", std::to_string(i)))
      cmds.push_back(c);
  BOOST_REQUIRE(redis().batch(cmds));
  auto len = *redis()("XLEN", s.key())->as_integer();
  BOOST_TEST(len >= 10);
  BOOST_TEST(len < 200); // whole nodes of 100 entries are trimmed
  // 0 means unbounded.
  opts.max_len = 0;
  auto u = *stream::make("untrimmed", opts);
  cmds.clear();
  for (int i = 0; i < 500; ++i)
    for (auto& c : u.add_commands("e", "x"))
      cmds.push_back(c);
  BOOST_REQUIRE(redis().batch(cmds));
  BOOST_TEST(*redis()("XLEN", u.key())->as_integer() == 500);
}

BOOST_AUTO_TEST_CASE(only_if_stream_exists) {
  auto s = *stream::make("maybe");
  auto id = s.add(redis(), "e", "x", {}, true);
  BOOST_REQUIRE(id);
  BOOST_TEST(id->empty());
  BOOST_TEST(*redis()("EXISTS", s.key())->as_integer() == 0);
  s.add(redis(), "e", "x");
  id = s.add(redis(), "e", "y", {}, true);
  BOOST_TEST(!id->empty());
}

BOOST_AUTO_TEST_CASE(absolute_ttl_is_not_refreshed_sliding_is) {
  stream_options abs;
  abs.ttl = 2s;
  stream_options slide = abs;
  slide.sliding_ttl = true;
  auto a = *stream::make("ttl-abs", abs);
  auto s = *stream::make("ttl-slide", slide);
  BOOST_REQUIRE(a.add(redis(), "e", "1"));
  BOOST_REQUIRE(s.add(redis(), "e", "1"));
  std::this_thread::sleep_for(600ms);
  BOOST_REQUIRE(a.add(redis(), "e", "2"));
  BOOST_REQUIRE(s.add(redis(), "e", "2"));
  auto pa = *redis()("PTTL", a.key())->as_integer();
  auto ps = *redis()("PTTL", s.key())->as_integer();
  BOOST_TEST(pa > 0);
  BOOST_TEST(pa <= 1400);
  BOOST_TEST(ps > 1500);
}

BOOST_AUTO_TEST_CASE(add_with_id_is_idempotent) {
  auto s = *stream::make("once");
  auto id = s.add_with_id(redis(), "1700000000000-1", "ev", "pay");
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  BOOST_TEST(*id == "1700000000000-1");
  // A retry (say after pulse.disconnected) finds its own entry: no copy.
  auto again = s.add_with_id(redis(), "1700000000000-1", "ev", "pay");
  BOOST_REQUIRE_MESSAGE(again, describe(again));
  BOOST_TEST(*again == "1700000000000-1");
  BOOST_TEST(redis()("XLEN", "pulse:stream:once")->integer == 1);
  // The same ID for another event, or an ID below the last entry, is an
  // error, not a silent success.
  auto other = s.add_with_id(redis(), "1700000000000-1", "ev", "other");
  BOOST_TEST(code_of(other.error()) == errc::invalid_argument);
  BOOST_TEST(describe(other).find("holds a different event")
               != std::string::npos,
             describe(other));
  auto lower = s.add_with_id(redis(), "1600000000000-1", "ev", "pay");
  BOOST_TEST(code_of(lower.error()) == errc::invalid_argument);
  BOOST_TEST(redis()("XLEN", "pulse:stream:once")->integer == 1);
  // Retries with a TTL (MULTI/EXEC) behave the same.
  stream_options o;
  o.ttl = std::chrono::seconds{60};
  auto t = *stream::make("once-ttl", o);
  BOOST_REQUIRE(t.add_with_id(redis(), "5-1", "ev", "x", "tp"));
  auto t2 = t.add_with_id(redis(), "5-1", "ev", "x", "tp");
  BOOST_REQUIRE_MESSAGE(t2, describe(t2));
  BOOST_TEST(redis()("XLEN", "pulse:stream:once-ttl")->integer == 1);
}

BOOST_AUTO_TEST_CASE(duplicate_fields_count_with_their_last_value) {
  // Written by another client: every field twice.
  BOOST_REQUIRE(redis()("XADD", "pulse:stream:dups", "*", "n", "a", "p", "x",
                        "t", "t1", "n", "b", "p", "y", "t", "t2"));
  auto range = redis()("XRANGE", "pulse:stream:dups", "-", "+");
  BOOST_REQUIRE_EQUAL(range->elements.size(), 1u);
  auto ev = parse_entry(range->elements[0], "dups");
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->name == "b");
  BOOST_TEST(ev->payload == "y");
  BOOST_TEST(ev->topic == "t2");
}

BOOST_AUTO_TEST_SUITE_END()
