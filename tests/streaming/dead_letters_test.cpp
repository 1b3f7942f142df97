// Dead-letter streams: listing, redriving into the source stream (by ID,
// by age, all), purging; entries written by other clients; a redrive and
// a purge by message from an event-based actor to the sink.

#include <boost/test/unit_test.hpp>

#include <thread>

#include <caf/event_based_actor.hpp>

#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

const std::string dlq = "orders:dead-letter";

// Dead-letters event `n`/`p`/`t` of stream "orders" the way a sink does
// (detail::dead_letter_command) and returns its dead-letter ID.
std::string dead_letter_one(client& c, const std::string& name,
                            const std::string& payload,
                            const std::string& topic = "",
                            const std::string& source = "orders") {
  resp::value entry;
  entry.type = resp::kind::array;
  entry.elements.resize(2);
  entry.elements[0] = resp::value::make_bulk("1-" + payload);
  auto& f = entry.elements[1];
  f.type = resp::kind::array;
  for (auto& x : {std::string{"n"}, name, std::string{"p"}, payload})
    f.elements.push_back(resp::value::make_bulk(x));
  if (!topic.empty())
    for (auto& x : {std::string{"t"}, topic})
      f.elements.push_back(resp::value::make_bulk(x));
  auto cmd = detail::dead_letter_command(entry, dead_letters::key(dlq),
                                         source, "billing", 3, "boom");
  auto id = c.call(cmd);
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  return id->str;
}

// The source stream's entries as "n/p/t" strings.
std::vector<std::string> source_entries(client& c) {
  std::vector<std::string> out;
  auto r = c("XRANGE", "pulse:stream:orders", "-", "+");
  BOOST_REQUIRE(r && r->is_array());
  for (auto& e : r->elements) {
    std::string n, p, t;
    auto& f = e.elements[1].elements;
    BOOST_TEST(f.size() % 2 == 0u);
    for (size_t i = 0; i + 1 < f.size(); i += 2) {
      BOOST_TEST((f[i].str == "n" || f[i].str == "p" || f[i].str == "t"),
                 "unexpected field " << f[i].str);
      (f[i].str == "n" ? n : f[i].str == "p" ? p : t) = f[i + 1].str;
    }
    out.push_back(n + "/" + p + "/" + t);
  }
  return out;
}

int64_t dlq_len(client& c) {
  return c("XLEN", dead_letters::key(dlq))->integer;
}

// Dead-letters event "created"/"first" and `more` events "e"/<i> of
// "orders", then spawns sink "billing" on "orders" (new events only);
// returns the first dead-letter ID and the sink.
template <class Runtime>
std::pair<std::string, sink_actor>
billing_sink_with_dead_letters(client& c, Runtime& rt, int more) {
  auto first = dead_letter_one(c, "created", "first");
  for (int i = 0; i < more; ++i)
    dead_letter_one(c, "e", std::to_string(i));
  sink_options so;
  so.start = "$";
  auto sink = spawn_sink(rt, "billing", {"orders"}, so);
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  return {first, *sink};
}

// Has an event-based actor send `(xs...)` to `sink` without blocking and
// returns the answer (a `T`) or the error it got, as the test sees them.
template <class T, class... Ts>
std::pair<T, caf::error> ask_sink(caf::actor_system& sys,
                                  caf::scoped_actor& self, sink_actor sink,
                                  Ts... xs) {
  auto me = caf::actor{self};
  sys.spawn([=](caf::event_based_actor* a) {
    a->request(sink, 10s, xs...)
      .then([=](const T& r) { a->send(me, r); },
            [=](caf::error& err) { a->send(me, err); });
  });
  T out{};
  caf::error failure;
  self->receive([&](const T& r) { out = r; },
                [&](caf::error& err) { failure = std::move(err); },
                caf::after(15s) >> [&] {
                  failure = make_error(errc::timeout, "no answer");
                });
  return {out, failure};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(dead_letter_streams, actor_fixture)

BOOST_AUTO_TEST_CASE(list_reads_every_field) {
  auto id = dead_letter_one(redis(), "created", "42", "eu");
  auto xs = dead_letters::list(redis(), dlq);
  BOOST_REQUIRE_MESSAGE(xs, describe(xs));
  BOOST_REQUIRE_EQUAL(xs->size(), 1u);
  auto& d = xs->front();
  BOOST_TEST(d.id == id);
  BOOST_TEST(d.original_id == "1-42");
  BOOST_TEST(d.stream == "orders");
  BOOST_TEST(d.sink == "billing");
  BOOST_TEST(d.deliveries == 3u);
  BOOST_TEST(d.error == "boom");
  BOOST_TEST(d.name == "created");
  BOOST_TEST(d.payload == "42");
  BOOST_TEST(d.topic == "eu");
  // A missing stream lists nothing; a bad name or count is refused.
  BOOST_TEST(dead_letters::list(redis(), "nothing:dead-letter")->empty());
  BOOST_TEST(code_of(dead_letters::list(redis(), "a b").error())
             == errc::invalid_argument);
  BOOST_TEST(code_of(dead_letters::list(redis(), dlq, 0).error())
             == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(redrive_by_id_moves_exactly_those_entries_back) {
  auto a = dead_letter_one(redis(), "created", "1", "eu");
  auto b = dead_letter_one(redis(), "created", "2");
  auto r = dead_letters::redrive(redis(), dlq,
                                 dead_letter_selection::by_ids({a}));
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1u);
  BOOST_TEST(r->missing == 0u);
  BOOST_TEST(source_entries(redis()) == (std::vector<std::string>{
                                          "created/1/eu"}));
  BOOST_TEST(dlq_len(redis()) == 1);
  // The same ID again (a retry) and IDs that never were there move
  // nothing: no duplicate in the source stream.
  r = dead_letters::redrive(
    redis(), dlq, dead_letter_selection::by_ids({a, "9-9", "not-an-id"}));
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 0u);
  BOOST_TEST(r->missing == 3u);
  BOOST_TEST(source_entries(redis()).size() == 1u);
  BOOST_TEST(dead_letters::list(redis(), dlq)->front().id == b);
}

BOOST_AUTO_TEST_CASE(redrive_all_goes_through_every_batch) {
  // More than one script run (500 entries each).
  for (int i = 0; i < 1203; ++i)
    dead_letter_one(redis(), "e", std::to_string(i));
  auto r = dead_letters::redrive(redis(), dlq, dead_letter_selection::all(),
                                 0);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1203u);
  BOOST_TEST(dlq_len(redis()) == 0);
  auto xs = source_entries(redis());
  BOOST_REQUIRE_EQUAL(xs.size(), 1203u);
  BOOST_TEST(xs.front() == "e/0/");
  BOOST_TEST(xs.back() == "e/1202/");
}

BOOST_AUTO_TEST_CASE(redrive_and_purge_by_age_take_only_older_entries) {
  auto old1 = dead_letter_one(redis(), "e", "old1");
  auto old2 = dead_letter_one(redis(), "e", "old2");
  std::this_thread::sleep_for(300ms);
  auto fresh = dead_letter_one(redis(), "e", "fresh");
  auto r = dead_letters::redrive(
    redis(), dlq, dead_letter_selection::older_than(200ms));
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 2u);
  BOOST_TEST(source_entries(redis())
             == (std::vector<std::string>{"e/old1/", "e/old2/"}));
  BOOST_TEST(dead_letters::list(redis(), dlq)->front().id == fresh);
  // Purge by age: nothing is that old any more, then everything is.
  auto n = dead_letters::purge(redis(), dlq,
                               dead_letter_selection::older_than(10s));
  BOOST_REQUIRE_MESSAGE(n, describe(n));
  BOOST_TEST(*n == 0u);
  std::this_thread::sleep_for(50ms);
  n = dead_letters::purge(redis(), dlq,
                          dead_letter_selection::older_than(20ms));
  BOOST_REQUIRE_MESSAGE(n, describe(n));
  BOOST_TEST(*n == 1u);
  BOOST_TEST(dlq_len(redis()) == 0);
}

BOOST_AUTO_TEST_CASE(entries_of_other_clients_are_left_in_place) {
  // No source stream, a source name no Pulse stream can have, and a
  // source key holding another type: each stays, the rest moves.
  auto none = redis()("XADD", dead_letters::key(dlq), "*", "n", "e", "p", "x");
  BOOST_REQUIRE(none);
  auto glob = dead_letter_one(redis(), "e", "g", "", "bad*name");
  BOOST_REQUIRE(redis()("SET", "pulse:stream:hash-not-stream", "x"));
  auto wrong = dead_letter_one(redis(), "e", "w", "", "hash-not-stream");
  auto good = dead_letter_one(redis(), "e", "ok");
  auto r = dead_letters::redrive(redis(), dlq, dead_letter_selection::all());
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1u);
  BOOST_TEST(r->skipped == 3u);
  BOOST_TEST(source_entries(redis()) == (std::vector<std::string>{"e/ok/"}));
  auto left = dead_letters::list(redis(), dlq);
  BOOST_REQUIRE_EQUAL(left->size(), 3u);
  BOOST_TEST(left->at(0).id == none->str);
  BOOST_TEST(left->at(1).id == glob);
  BOOST_TEST(left->at(2).id == wrong);
  (void) good;
  // A dead-letter key of another type is a clear Redis error.
  BOOST_REQUIRE(redis()("SET", dead_letters::key("str:dead-letter"), "x"));
  auto bad = dead_letters::redrive(redis(), "str:dead-letter",
                                   dead_letter_selection::all());
  BOOST_REQUIRE(!bad);
  BOOST_TEST(render(bad.error()).find("WRONGTYPE") != std::string::npos,
             render(bad.error()));
}

BOOST_AUTO_TEST_CASE(purge_by_id_and_all) {
  auto a = dead_letter_one(redis(), "e", "1");
  dead_letter_one(redis(), "e", "2");
  dead_letter_one(redis(), "e", "3");
  // A missing ID and one that is not a stream ID delete nothing.
  auto n = dead_letters::purge(
    redis(), dlq, dead_letter_selection::by_ids({a, "5-5", "not-an-id"}));
  BOOST_REQUIRE_MESSAGE(n, describe(n));
  BOOST_TEST(*n == 1u);
  n = dead_letters::purge(redis(), dlq, dead_letter_selection::all());
  BOOST_REQUIRE_MESSAGE(n, describe(n));
  BOOST_TEST(*n == 2u);
  BOOST_TEST(redis()("EXISTS", dead_letters::key(dlq))->integer == 0);
  // Nothing selected is refused.
  auto none = dead_letters::purge(redis(), dlq, dead_letter_selection{});
  BOOST_TEST(code_of(none.error()) == errc::invalid_argument);
  auto none2 = dead_letters::redrive(redis(), dlq,
                                     dead_letter_selection::by_ids({}));
  BOOST_TEST(code_of(none2.error()) == errc::invalid_argument);
  // A dead-letter key of another type is a clear Redis error.
  BOOST_REQUIRE(redis()("SET", dead_letters::key("str:dead-letter"), "x"));
  auto bad = dead_letters::purge(redis(), "str:dead-letter",
                                 dead_letter_selection::by_ids({a}));
  BOOST_REQUIRE(!bad);
  BOOST_TEST(render(bad.error()).find("WRONGTYPE") != std::string::npos,
             render(bad.error()));
}

BOOST_AUTO_TEST_CASE(per_entry_mode_moves_like_the_script) {
  // Cluster mode's redrive (XRANGE, XADD, XDEL) on a single node: the same
  // counts as the script, entries of other clients left in place.
  using dead_letters::redrive_mode;
  auto a = dead_letter_one(redis(), "created", "1", "eu");
  auto none = redis()("XADD", dead_letters::key(dlq), "*", "n", "e", "p", "x");
  BOOST_REQUIRE(none);
  dead_letter_one(redis(), "e", "g", "", "bad*name");
  BOOST_REQUIRE(redis()("SET", "pulse:stream:hash-not-stream", "x"));
  dead_letter_one(redis(), "e", "w", "", "hash-not-stream");
  dead_letter_one(redis(), "e", "ok");
  auto r = dead_letters::redrive(
    redis(), dlq, dead_letter_selection::by_ids({a, "9-9", "not-an-id", a}),
    1000, redrive_mode::per_entry);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1u);
  BOOST_TEST(r->missing == 3u);
  BOOST_TEST(source_entries(redis()) == (std::vector<std::string>{
                                          "created/1/eu"}));
  r = dead_letters::redrive(redis(), dlq, dead_letter_selection::all(), 1000,
                            redrive_mode::per_entry);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1u);
  BOOST_TEST(r->skipped == 3u);
  BOOST_TEST(source_entries(redis()) == (std::vector<std::string>{
                                          "created/1/eu", "e/ok/"}));
  BOOST_TEST(dlq_len(redis()) == 3);
  // A dead-letter key of another type: refused like the script does.
  BOOST_REQUIRE(redis()("SET", "pulse:stream:str:dead-letter", "x"));
  auto bad = dead_letters::redrive(redis(), "str:dead-letter",
                                   dead_letter_selection::by_ids({a}), 1000,
                                   redrive_mode::per_entry);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(render(bad.error()).find("WRONGTYPE") != std::string::npos,
             render(bad.error()));
  bad = dead_letters::redrive(redis(), "str:dead-letter",
                              dead_letter_selection::all(), 1000,
                              redrive_mode::per_entry);
  BOOST_REQUIRE(!bad);
}

BOOST_AUTO_TEST_CASE(an_actor_redrives_a_sinks_dead_letters_by_message) {
  // More than one script run (500 entries each) for the "all" redrive.
  auto made = billing_sink_with_dead_letters(redis(), *rt, 600);
  auto first = made.first;
  auto sink = made.second;
  auto ask = [&](std::string stream, dead_letter_selection which) {
    return ask_sink<redrive_result>(*sys, *self, sink,
                                    dl_redrive_atom::value, stream, which,
                                    uint64_t{0});
  };
  // By ID, on the sink's stream "orders": one moves, one is missing.
  auto [r, err] = ask("orders", dead_letter_selection::by_ids({first, "9-9"}));
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(r.moved == 1u);
  BOOST_TEST(r.missing == 1u);
  BOOST_TEST(source_entries(redis()) == (std::vector<std::string>{
                                          "created/first/"}));
  // All, on every stream of the sink (empty name): the other 600.
  std::tie(r, err) = ask("", dead_letter_selection::all());
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(r.moved == 600u);
  BOOST_TEST(dlq_len(redis()) == 0);
  auto xs = source_entries(redis());
  BOOST_REQUIRE_EQUAL(xs.size(), 601u);
  BOOST_TEST(xs.back() == "e/599/");
  // A stream the sink does not read, and an empty selection: refused.
  std::tie(r, err) = ask("invoices", dead_letter_selection::all());
  BOOST_TEST(code_of(err) == errc::invalid_argument, render(err));
  std::tie(r, err) = ask("orders", dead_letter_selection{});
  BOOST_TEST(code_of(err) == errc::invalid_argument, render(err));
  (*self)->send_exit(sink, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(an_actor_purges_a_sinks_dead_letters_by_message) {
  auto made = billing_sink_with_dead_letters(redis(), *rt, 5);
  auto first = made.first;
  auto sink = made.second;
  auto ask = [&](std::string stream, dead_letter_selection which) {
    return ask_sink<uint64_t>(*sys, *self, sink, dl_purge_atom::value,
                              stream, which);
  };
  // By ID on the sink's stream: one is there, one is not.
  auto [n, err] = ask("orders", dead_letter_selection::by_ids({first, "9-9"}));
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(n == 1u);
  BOOST_TEST(dlq_len(redis()) == 5);
  // All, on every stream of the sink: the other 5; nothing was redriven.
  std::tie(n, err) = ask("", dead_letter_selection::all());
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(n == 5u);
  BOOST_TEST(redis()("EXISTS", dead_letters::key(dlq))->integer == 0);
  BOOST_TEST(source_entries(redis()).empty());
  // A stream the sink does not read, and an empty selection: refused.
  std::tie(n, err) = ask("invoices", dead_letter_selection::all());
  BOOST_TEST(code_of(err) == errc::invalid_argument, render(err));
  std::tie(n, err) = ask("orders", dead_letter_selection{});
  BOOST_TEST(code_of(err) == errc::invalid_argument, render(err));
  (*self)->send_exit(sink, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
