// Safe trimming (`trim_mode::safe`): adds never trim entries a consumer
// group has not read and acked; entries, TTLs, NOMKSTREAM and producer IDs
// as in the approximate mode; the configured mode reaches the runtime
// actor's adds. (The runtime actor's add with the producer's ID:
// actor_api_test.cpp.)

#include <boost/test/unit_test.hpp>

#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "pulse/actors/streaming/trim.hpp"
#include "pulse/messages/runtime.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/runtime_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

stream_options safe(uint64_t max_len) {
  stream_options o;
  o.max_len = max_len;
  o.trim = trim_mode::safe;
  return o;
}

int64_t xlen(client& c, const std::string& key) {
  auto n = c("XLEN", key);
  return n ? n->integer : -1;
}

// The IDs of the stream's entries, oldest first.
std::vector<std::string> entry_ids(client& c, const std::string& key) {
  std::vector<std::string> result;
  auto range = c("XRANGE", key, "-", "+");
  if (range)
    for (auto& e : range->elements)
      result.push_back(e.elements[0].str);
  return result;
}

// Adds `n` events and returns their IDs.
std::vector<std::string> add_n(client& c, const stream& s, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    auto id = s.add(c, "ev", std::to_string(i));
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    ids.push_back(*id);
  }
  return ids;
}

// Reads up to `count` new entries as consumer `c1` of `group`.
size_t read_group(client& c, const std::string& key, const std::string& group,
                  int count) {
  auto r = c("XREADGROUP", "GROUP", group, "c1", "COUNT",
             std::to_string(count), "STREAMS", key, ">");
  if (!r || !r->is_array() || r->elements.empty())
    return 0;
  return r->elements[0].elements[1].elements.size();
}

void ack(client& c, const std::string& key, const std::string& group,
         const std::vector<std::string>& ids, size_t from, size_t to) {
  command cmd = make_command("XACK", key, group);
  for (auto i = from; i < to; ++i)
    cmd.args.push_back(ids[i]);
  auto r = c.call(cmd);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->integer == static_cast<int64_t>(to - from));
}

bool lost(client& c, const std::string& key, const std::string& group) {
  auto replies = c.batch(trim_check_commands(key));
  return replies && parse_trim_check(*replies, group).lost;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(safe_trim, actor_fixture)

BOOST_AUTO_TEST_CASE(a_lagging_group_keeps_every_unread_and_unacked_entry) {
  auto s = *stream::make("safe-lag", safe(10));
  auto& c = redis();
  BOOST_REQUIRE(c("XGROUP", "CREATE", s.key(), "slow", "$", "MKSTREAM"));
  // Not read at all: nothing is trimmed.
  auto ids = add_n(c, s, 100);
  BOOST_TEST(entry_ids(c, s.key()) == ids);
  BOOST_TEST(!lost(c, s.key(), "slow"));
  // Read but not acked: still nothing.
  BOOST_TEST(read_group(c, s.key(), "slow", 60) == 60u);
  auto more = add_n(c, s, 50);
  ids.insert(ids.end(), more.begin(), more.end());
  BOOST_TEST(entry_ids(c, s.key()) == ids);
  // The oldest 20 acked: exactly those go; the 21st, pending, stays.
  ack(c, s.key(), "slow", ids, 0, 20);
  ids.push_back(add_n(c, s, 1)[0]);
  auto left = entry_ids(c, s.key());
  BOOST_TEST(left == std::vector<std::string>(ids.begin() + 20, ids.end()));
  BOOST_TEST(!lost(c, s.key(), "slow"));
  // Every entry the group has not read is there for it.
  BOOST_TEST(read_group(c, s.key(), "slow", 1000) == 91u);
}

BOOST_AUTO_TEST_CASE(once_the_group_caught_up_adds_trim_back_to_max_len) {
  auto s = *stream::make("safe-catchup", safe(10));
  auto& c = redis();
  BOOST_REQUIRE(c("XGROUP", "CREATE", s.key(), "g", "$", "MKSTREAM"));
  auto ids = add_n(c, s, 100);
  BOOST_TEST(xlen(c, s.key()) == 100);
  BOOST_TEST(read_group(c, s.key(), "g", 1000) == 100u);
  ack(c, s.key(), "g", ids, 0, 100);
  auto last = add_n(c, s, 1)[0];
  auto left = entry_ids(c, s.key());
  BOOST_REQUIRE_EQUAL(left.size(), 10u);
  BOOST_TEST(left.front() == ids[91]);
  BOOST_TEST(left.back() == last);
  BOOST_TEST(!lost(c, s.key(), "g"));
  // Adds trim the 9 read entries left, one per add; then the 11 unread
  // ones beyond max_len stay.
  add_n(c, s, 20);
  BOOST_TEST(xlen(c, s.key()) == 21);
  BOOST_TEST(read_group(c, s.key(), "g", 1000) == 21u);
}

BOOST_AUTO_TEST_CASE(the_slowest_of_two_groups_governs) {
  auto s = *stream::make("safe-two", safe(10));
  auto& c = redis();
  BOOST_REQUIRE(c("XGROUP", "CREATE", s.key(), "fast", "$", "MKSTREAM"));
  BOOST_REQUIRE(c("XGROUP", "CREATE", s.key(), "slow", "$"));
  auto ids = add_n(c, s, 100);
  BOOST_TEST(read_group(c, s.key(), "fast", 80) == 80u);
  ack(c, s.key(), "fast", ids, 0, 80);
  BOOST_TEST(read_group(c, s.key(), "slow", 30) == 30u);
  ack(c, s.key(), "slow", ids, 0, 30);
  ids.push_back(add_n(c, s, 1)[0]);
  auto left = entry_ids(c, s.key());
  BOOST_REQUIRE_EQUAL(left.size(), 71u);
  BOOST_TEST(left.front() == ids[30]);
  // The slow group catches up: the fast one (at 80) governs now.
  BOOST_TEST(read_group(c, s.key(), "slow", 1000) == 71u);
  ack(c, s.key(), "slow", ids, 30, 101);
  ids.push_back(add_n(c, s, 1)[0]);
  left = entry_ids(c, s.key());
  BOOST_REQUIRE_EQUAL(left.size(), 22u);
  BOOST_TEST(left.front() == ids[80]);
  // A pending entry of the fast group holds the bound below its position.
  BOOST_TEST(read_group(c, s.key(), "fast", 5) == 5u); // ids[80..84]
  ack(c, s.key(), "fast", ids, 81, 85);                // 80 stays pending
  ids.push_back(add_n(c, s, 1)[0]);
  BOOST_TEST(entry_ids(c, s.key()).front() == ids[80]);
  ack(c, s.key(), "fast", ids, 80, 81);
  ids.push_back(add_n(c, s, 1)[0]);
  BOOST_TEST(entry_ids(c, s.key()).front() == ids[85]);
  BOOST_TEST(!lost(c, s.key(), "fast"));
  BOOST_TEST(!lost(c, s.key(), "slow"));
}

BOOST_AUTO_TEST_CASE(without_groups_it_trims_to_max_len) {
  auto& c = redis();
  auto s = *stream::make("safe-nogroup", safe(10));
  auto ids = add_n(c, s, 100);
  BOOST_TEST(entry_ids(c, s.key())
             == std::vector<std::string>(ids.end() - 10, ids.end()));
  // Larger caps trim in steps of max_len / 100, like `MAXLEN ~`; the
  // commands of add_commands (EVAL) batch like the approximate ones.
  auto big = *stream::make("safe-nogroup-big", safe(1000));
  std::vector<command> cmds;
  for (int i = 0; i < 1100; ++i)
    for (auto& cmd : big.add_commands("e", std::to_string(i)))
      cmds.push_back(cmd);
  auto replies = c.batch(cmds);
  BOOST_REQUIRE_MESSAGE(replies, describe(replies));
  for (auto& r : *replies)
    BOOST_REQUIRE_MESSAGE(r.is_string(), r.render());
  auto len = xlen(c, big.key());
  BOOST_TEST(len >= 1000);
  BOOST_TEST(len < 1010);
  auto last = c("XREVRANGE", big.key(), "+", "-", "COUNT", "1");
  BOOST_TEST(last->elements[0].elements[0].str == replies->back().str);
  // 0 means unbounded.
  auto u = *stream::make("safe-unbounded", safe(0));
  add_n(c, u, 50);
  BOOST_TEST(xlen(c, u.key()) == 50);
}

BOOST_AUTO_TEST_CASE(entries_have_go_pulse_fields) {
  auto& c = redis();
  auto s = *stream::make("safe-layout", safe(10));
  auto id = s.add(c, "foo", "bar");
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  auto id2 = s.add(c, "foo", std::string{"b\0r", 3}, "tp");
  BOOST_REQUIRE_MESSAGE(id2, describe(id2));
  auto range = c("XRANGE", "pulse:stream:safe-layout", "-", "+");
  BOOST_REQUIRE_EQUAL(range->elements.size(), 2u);
  BOOST_TEST(range->elements[0].render()
             == "[\"" + *id + "\", [\"n\", \"foo\", \"p\", \"bar\"]]");
  BOOST_TEST(range->elements[1].elements[1].render()
             == std::string("[\"n\", \"foo\", \"p\", \"b\0r\", \"t\", \"tp\"]",
                            35));
  auto ev = parse_entry(range->elements[1], "safe-layout");
  BOOST_REQUIRE_MESSAGE(ev, describe(ev));
  BOOST_TEST(ev->topic == "tp");
  // The approximate mode's commands are Go Pulse's XADD, unchanged; the
  // safe mode's are one EVAL of the script with the same fields.
  auto a = *stream::make("safe-layout");
  std::vector<std::string> xadd{"XADD", a.key(), "MAXLEN", "~", "1000",
                                "*", "n", "e", "p", "x"};
  BOOST_TEST(a.add_commands("e", "x").at(0).args == xadd);
  auto eval = s.add_commands("e", "x", "t1", true).at(0).args;
  std::vector<std::string> tail{"1", s.key(), "*", "10", "0", "0", "1",
                                "n", "e", "p", "x", "t", "t1"};
  BOOST_TEST(eval.at(0) == "EVAL");
  BOOST_TEST(eval.at(1) == safe_add_script().source);
  BOOST_TEST(std::vector<std::string>(eval.begin() + 2, eval.end()) == tail);
}

BOOST_AUTO_TEST_CASE(ttl_nomkstream_and_producer_ids_work_in_safe_mode) {
  auto& c = redis();
  auto s = *stream::make("safe-maybe", safe(10));
  auto id = s.add(c, "e", "x", {}, true);
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  BOOST_TEST(id->empty());
  BOOST_TEST(c("EXISTS", s.key())->integer == 0);
  BOOST_REQUIRE(s.add(c, "e", "x"));
  id = s.add(c, "e", "y", {}, true);
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  BOOST_TEST(!id->empty());
  // Absolute TTL: set once (NX); sliding: refreshed by every add.
  auto abs = safe(10);
  abs.ttl = 2s;
  auto slide = abs;
  slide.sliding_ttl = true;
  auto a = *stream::make("safe-ttl-abs", abs);
  auto b = *stream::make("safe-ttl-slide", slide);
  BOOST_REQUIRE(a.add(c, "e", "1"));
  BOOST_REQUIRE(b.add(c, "e", "1"));
  std::this_thread::sleep_for(600ms);
  BOOST_REQUIRE(a.add(c, "e", "2"));
  BOOST_REQUIRE(b.add(c, "e", "2"));
  auto pa = c("PTTL", a.key())->integer;
  auto pb = c("PTTL", b.key())->integer;
  BOOST_TEST(pa > 0);
  BOOST_TEST(pa <= 1400);
  BOOST_TEST(pb > 1500);
  // Producer IDs: a retry finds its own entry; another event under a taken
  // ID, or an ID below the last entry, is an error.
  auto once = *stream::make("safe-once", safe(10));
  auto first = once.add_with_id(c, "1700000000000-1", "ev", "pay", "tp");
  BOOST_REQUIRE_MESSAGE(first, describe(first));
  BOOST_TEST(*first == "1700000000000-1");
  auto again = once.add_with_id(c, "1700000000000-1", "ev", "pay", "tp");
  BOOST_REQUIRE_MESSAGE(again, describe(again));
  BOOST_TEST(*again == "1700000000000-1");
  auto other = once.add_with_id(c, "1700000000000-1", "ev", "other");
  BOOST_TEST(code_of(other.error()) == errc::invalid_argument);
  auto lower = once.add_with_id(c, "1600000000000-1", "ev", "pay");
  BOOST_TEST(code_of(lower.error()) == errc::invalid_argument);
  auto bad = once.add_with_id(c, "not-an-id", "ev", "pay");
  BOOST_TEST(code_of(bad.error()) == errc::redis_error);
  BOOST_TEST(xlen(c, once.key()) == 1);
}

BOOST_AUTO_TEST_CASE(a_stopped_sink_loses_nothing_and_trims_once_it_acked) {
  auto& c = redis();
  sink_options so;
  so.block = 50ms;
  so.idle_check = 50ms;
  auto sink = spawn_sink(*rt, "safe-billing", {"safe-orders"}, so);
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  // The sink created its group; then it stops.
  (*self)->send_exit(*sink, caf::exit_reason::user_shutdown);
  auto s = *stream::make("safe-orders", safe(10));
  add_n(c, s, 100);
  BOOST_TEST(xlen(c, s.key()) == 100);
  BOOST_TEST(!lost(c, s.key(), "safe-billing"));
  // Restarted, it gets all 100 and acks them; later adds trim.
  auto again = spawn_sink(*rt, "safe-billing", {"safe-orders"}, so);
  BOOST_REQUIRE_MESSAGE(again, describe(again));
  auto sub = subscription::attach(*sys, *again);
  BOOST_REQUIRE_MESSAGE(sub, describe(sub));
  for (int i = 0; i < 100; ++i) {
    auto ev = (*sub)->next(5000ms);
    BOOST_REQUIRE(ev);
    BOOST_TEST(ev->payload == std::to_string(i));
    (*sub)->ack(*ev);
  }
  BOOST_TEST(wait_until([&] {
    auto p = c("XPENDING", s.key(), "safe-billing");
    return p && p->elements.at(0).integer == 0;
  }));
  BOOST_REQUIRE(s.add(c, "ev", "100"));
  BOOST_TEST(xlen(c, s.key()) <= 11);
  BOOST_TEST(xlen(c, s.key()) >= 10);
  BOOST_TEST(!lost(c, s.key(), "safe-billing"));
  sub->reset();
  (*self)->send_exit(*again, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(ids_compare_exactly_beyond_double_precision) {
  // 2^53 and 2^53 + 1 are one double: the bound must still be the lower
  // one, and the ID after a sequence of 2^64 - 1 is the next millisecond.
  auto& c = redis();
  auto s = *stream::make("safe-big-ids", safe(1));
  BOOST_REQUIRE(c("XGROUP", "CREATE", s.key(), "g1", "$", "MKSTREAM"));
  BOOST_REQUIRE(c("XGROUP", "CREATE", s.key(), "g2", "$"));
  std::vector<std::string> ids{"9007199254740992-0", "9007199254740993-0",
                               "9007199254740993-18446744073709551615",
                               "9007199254740994-0"};
  for (int i = 0; i < 2; ++i)
    BOOST_REQUIRE(s.add_with_id(c, ids[i], "ev", "x"));
  BOOST_TEST(read_group(c, s.key(), "g1", 2) == 2u);
  ack(c, s.key(), "g1", ids, 0, 2);
  BOOST_TEST(read_group(c, s.key(), "g2", 1) == 1u);
  ack(c, s.key(), "g2", ids, 0, 1);
  auto added = s.add_with_id(c, ids[2], "ev", "x");
  BOOST_REQUIRE_MESSAGE(added, describe(added));
  BOOST_TEST(entry_ids(c, s.key())
             == std::vector<std::string>(ids.begin() + 1, ids.begin() + 3));
  BOOST_TEST(read_group(c, s.key(), "g2", 2) == 2u);
  ack(c, s.key(), "g2", ids, 1, 3);
  BOOST_TEST(read_group(c, s.key(), "g1", 1) == 1u);
  ack(c, s.key(), "g1", ids, 2, 3);
  added = s.add_with_id(c, ids[3], "ev", "x");
  BOOST_REQUIRE_MESSAGE(added, describe(added));
  BOOST_TEST(entry_ids(c, s.key()) == std::vector<std::string>{ids[3]});
}

BOOST_AUTO_TEST_SUITE_END()

// A runtime configured with `[pulse.streaming] trim = "safe"` and
// `stream-max-len = 10`.
struct safe_runtime_fixture : configured_runtime {
  safe_runtime_fixture()
    : configured_runtime([](options& o) {
        o.streaming.stream_max_len = 10;
        o.streaming.trim = trim_mode::safe;
      }) {
    // nop
  }
};

BOOST_FIXTURE_TEST_SUITE(safe_trim_configured, safe_runtime_fixture)

BOOST_AUTO_TEST_CASE(adds_without_options_use_the_configured_trim) {
  BOOST_REQUIRE(
    (*redis)("XGROUP", "CREATE", "pulse:stream:cfg-safe", "g", "$",
             "MKSTREAM"));
  auto rta = rt->actor();
  for (int i = 0; i < 30; ++i) {
    bool ok = false;
    (*self)
      ->request(rta, 10s, stream_add_atom::value, std::string{"cfg-safe"},
                std::string{"ev"}, std::to_string(i), std::string{})
      .receive([&](const std::string& id) { ok = !id.empty(); },
               [](caf::error& err) { BOOST_FAIL(render(err)); });
    BOOST_REQUIRE(ok);
  }
  BOOST_TEST(xlen(*redis, "pulse:stream:cfg-safe") == 30);
  // The facade made from the runtime's options is safe too.
  auto s = stream::make(*rt, "cfg-safe");
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  BOOST_TEST((s->opts().trim == trim_mode::safe));
  BOOST_REQUIRE(s->add(*redis, "ev", "30"));
  BOOST_TEST(xlen(*redis, "pulse:stream:cfg-safe") == 31);
  // Read and acked: the next add trims to max_len.
  auto r = (*redis)("XREADGROUP", "GROUP", "g", "c", "STREAMS",
                    "pulse:stream:cfg-safe", ">");
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  command xack = make_command("XACK", "pulse:stream:cfg-safe", "g");
  for (auto& e : r->elements.at(0).elements.at(1).elements)
    xack.args.push_back(e.elements.at(0).str);
  BOOST_REQUIRE((*redis).call(xack));
  BOOST_REQUIRE(s->add(*redis, "ev", "31"));
  BOOST_TEST(xlen(*redis, "pulse:stream:cfg-safe") == 10);
}

BOOST_AUTO_TEST_SUITE_END()
