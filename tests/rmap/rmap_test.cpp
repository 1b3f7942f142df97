// Replicated maps against a real Redis: every operation, golden bytes,
// TTLs, close, destroy. The other cases: rmap_replica_test.cpp (replicas
// and subscribers), rmap_restart_test.cpp (restarts, processes).

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "tests/rmap/rmap_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

std::string u32(uint32_t n) {
  std::string s;
  for (int i = 0; i < 4; ++i)
    s.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  return s;
}

struct raw_box {
  std::mutex mtx;
  std::vector<std::string> payloads;
  size_t size() {
    std::lock_guard<std::mutex> g{mtx};
    return payloads.size();
  }
};

pubsub_subscriber_actor::behavior_type
raw_listener(pubsub_subscriber_actor::pointer, std::shared_ptr<raw_box> b) {
  return {
    [=](const pubsub_message& m) {
      std::lock_guard<std::mutex> g{b->mtx};
      b->payloads.push_back(m.payload);
    },
    [](resub_atom, const std::string&) {},
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(rmap_ops, rmap_fixture)

BOOST_AUTO_TEST_CASE(golden_notification_bytes_and_hash_layout) {
  auto box = std::make_shared<raw_box>();
  auto l = sys->spawn(raw_listener, box);
  (*self)->request(rt->pubsub(), 5s, sub_atom::value,
                   std::string{"map:golden:updates"}, l)
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  auto m = join("golden");
  BOOST_REQUIRE(m->set("k", "v/1"));                       // 1
  BOOST_REQUIRE(m->append_values("list", {"a/b"}));        // 2
  BOOST_REQUIRE(m->append_values("list", {"c"}));          // 3
  BOOST_REQUIRE(m->remove_values("list", {"a/b"}));        // 4
  BOOST_REQUIRE(m->remove_values("list", {"c"}));          // 5
  BOOST_REQUIRE(m->inc("cnt", 5));                         // 6
  BOOST_REQUIRE(m->del("k"));                              // 7
  BOOST_REQUIRE(!m->reset());                              // 8
  BOOST_REQUIRE(!m->destroy());                            // 9
  auto tomb = redis()("HGETALL", "map:golden:content");
  BOOST_TEST(tomb->render() == "[\"=rev\", \"9\", \"=kind\", \"destroy\"]");
  redis()("HSET", "map:golden:content", "x", "x,y");      // legacy, no rev
  BOOST_REQUIRE(m->append_values("x", {"z"}));             // 10
  BOOST_REQUIRE(m->set_if_not_exists("n", ""));            // 11
  BOOST_REQUIRE(*m->test_and_reset({"n"}, {""}));          // 12
  BOOST_REQUIRE(m->append_values("u", {"\xc3\xa9", "a\"b"})); // 13
  BOOST_REQUIRE(wait_until([&] { return box->size() == 13; }));
  std::vector<std::string> golden{
    "set:" + u32(1) + "k" + u32(3) + "v/1" + u32(1) + "1",
    "set:" + u32(4) + "list" + u32(8) + R"(["a\/b"])" + u32(1) + "2",
    "set:" + u32(4) + "list" + u32(12) + R"(["a\/b","c"])" + u32(1) + "3",
    "set:" + u32(4) + "list" + u32(5) + R"(["c"])" + u32(1) + "4",
    "del:" + u32(4) + "list" + u32(1) + "5",
    "set:" + u32(3) + "cnt" + u32(1) + "5" + u32(1) + "6",
    "del:" + u32(1) + "k" + u32(1) + "7",
    "reset:8",
    "destroy:9",
    "set:" + u32(1) + "x" + u32(13) + R"(["x","y","z"])" + u32(2) + "10",
    "set:" + u32(1) + "n" + u32(0) + u32(2) + "11",
    "reset:12",
    "set:" + u32(1) + "u" + u32(13) + "[\"\xc3\xa9\",\"a\\\"b\"]" + u32(2)
      + "13",
  };
  auto got = box->payloads;
  for (size_t i = 0; i < golden.size(); ++i)
    BOOST_TEST(got[i] == golden[i], "row " << i + 1);
  BOOST_TEST(wait_until([&] { return converged(m); }));
  caf::anon_send_exit(l, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(basic_reads_and_writes) {
  auto m = join("basic");
  BOOST_TEST(opt(*m->set_and_wait("a", "1")) == "none");
  BOOST_TEST(opt(*m->set_and_wait("a", "2")) == "\"1\"");
  BOOST_TEST(opt(m->get("a")) == "\"2\"");
  m->set_and_wait("empty", "");
  BOOST_TEST(opt(m->get("empty")) == "\"\""); // present and empty
  BOOST_TEST(m->len() == 2u);
  BOOST_TEST(m->keys().size() == 2u);
  BOOST_TEST(m->snapshot().at("a") == "2");
  BOOST_TEST(opt(*m->del("a")) == "\"2\"");
  BOOST_TEST(opt(*m->del("a")) == "none");
  BOOST_REQUIRE(!m->reset());
  BOOST_TEST(wait_until([&] { return m->len() == 0; }));
  // The hash after reset is exactly {=rev, =kind: reset}.
  auto h = redis()("HGETALL", "map:basic:content");
  BOOST_TEST(h->elements.size() == 4u);
  BOOST_TEST(*redis()("HGET", "map:basic:content", "=kind") == resp::value::make_bulk("reset"));
}

BOOST_AUTO_TEST_CASE(ex_variants_report_existed_updated_deleted) {
  auto m = join("ex");
  m->set("k", "v");
  auto r = m->test_and_set_ex("k", "v", "w"); // match
  BOOST_TEST(opt(r->prev) == "\"v\"");
  BOOST_TEST(r->done);
  r = m->test_and_set_ex("k", "nope", "x"); // mismatch
  BOOST_TEST(opt(r->prev) == "\"w\"");
  BOOST_TEST(!r->done);
  r = m->test_and_set_ex("missing", "", "x"); // missing never matches
  BOOST_TEST(opt(r->prev) == "none");
  BOOST_TEST(!r->done);
  m->set("e", "");
  r = m->test_and_set_ex("e", "", "filled"); // "" matches ""
  BOOST_TEST(r->done);
  r = m->test_and_set_ex("k", "", "x"); // test "" leaves a mismatch alone
  BOOST_TEST(!r->done);
  BOOST_TEST(redis()("HGET", "map:ex:content", "k")->str == "w");
  auto d = m->test_and_delete_ex("k", "other"); // mismatch keeps the key
  BOOST_TEST(!d->done);
  BOOST_TEST(redis()("HEXISTS", "map:ex:content", "k")->integer == 1);
  d = m->test_and_delete_ex("k", "w");
  BOOST_TEST(d->done);
  d = m->delete_ex("k");
  BOOST_TEST(!d->done);
  BOOST_TEST(opt(d->prev) == "none");
  auto s = m->set_ex("n", "1");
  BOOST_TEST(!s->prev);
  BOOST_TEST(s->rev > 0u);
  BOOST_TEST(*m->set_if_not_exists("n", "2") == false);
  BOOST_TEST(*m->set_if_not_exists("fresh", "2") == true);
}

BOOST_AUTO_TEST_CASE(test_and_reset_rules) {
  auto m = join("tar");
  m->set("a", "1");
  m->set("b", "2");
  BOOST_TEST(*m->test_and_reset({"a", "b"}, {"1", "x"}) == false); // mismatch
  BOOST_TEST(*m->test_and_reset({"a", "c"}, {"1", "3"}) == false); // missing
  BOOST_TEST(redis()("HLEN", "map:tar:content")->integer == 4);
  BOOST_TEST(*m->test_and_reset({"a", "b"}, {"1", "2"}) == true);
  BOOST_TEST(redis()("HLEN", "map:tar:content")->integer == 2);
  m->set("z", "9");
  BOOST_TEST(*m->test_and_reset({}, {}) == true); // empty lists always reset
  BOOST_TEST(!m->test_and_reset({"a"}, {}).engaged());
}

BOOST_AUTO_TEST_CASE(lists_and_counters) {
  auto m = join("lists");
  BOOST_TEST(*m->append_values("l", {"a", "b"})
             == (std::vector<std::string>{"a", "b"}));
  BOOST_TEST(*m->append_unique_values("l", {"b", "c", "c"})
             == (std::vector<std::string>{"a", "b", "c"}));
  BOOST_TEST(*redis()("HGET", "map:lists:content", "l")
             == resp::value::make_bulk(R"(["a","b","c"])"));
  auto r = m->remove_values("l", {"a", "c"});
  BOOST_TEST(r->removed);
  BOOST_TEST(*r->remaining == (std::vector<std::string>{"b"}));
  r = m->remove_values("l", {"b"}); // emptied: key deleted
  BOOST_TEST(r->removed);
  BOOST_TEST(!r->remaining);
  BOOST_TEST(redis()("HEXISTS", "map:lists:content", "l")->integer == 0);
  r = m->remove_values("l", {"b"}); // missing
  BOOST_TEST(!r->removed);
  BOOST_TEST(!r->remaining);
  // Legacy comma-separated values are read and rewritten as JSON.
  redis()("HSET", "map:lists:content", "legacy", "x,,y");
  BOOST_TEST(*m->append_unique_values("legacy", {"z"})
             == (std::vector<std::string>{"x", "y", "z"}));
  m->set_and_wait("csv", "p,q");
  BOOST_TEST(*m->get_values("csv") == (std::vector<std::string>{"p", "q"}));
  BOOST_TEST(*m->inc("n", 1) == 1);
  BOOST_TEST(*m->inc("n", 41) == 42);
  BOOST_TEST(*m->inc("n", -1) == 41);
  BOOST_TEST(*m->inc("n", -41) == 0);
  BOOST_TEST(*redis()("HGET", "map:lists:content", "n")
             == resp::value::make_bulk("0"));
  m->set("word", "abc");
  auto bad = m->inc("word", 1);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::redis_error);
}

BOOST_AUTO_TEST_CASE(keys_and_names_are_validated) {
  auto m = join("valid");
  auto e = m->set("", "v");
  BOOST_REQUIRE(!e);
  BOOST_TEST(render(e.error())
             == "pulse.invalid_argument: pulse map: key cannot be empty in "
                "\"set\"");
  auto eq = m->del("a=b");
  BOOST_REQUIRE(!eq);
  BOOST_TEST(render(eq.error()).find("key \"a=b\" cannot contain '=' in "
                                     "\"delete\"")
             != std::string::npos);
  BOOST_TEST(!m->inc("=rev", 1).engaged());
  BOOST_TEST(!rmap::map::join(*rt, "bad name").engaged());
  rmap::options neg;
  neg.ttl = -1s;
  BOOST_TEST(!rmap::map::join(*rt, "ok", neg).engaged());
}

BOOST_AUTO_TEST_CASE(set_and_wait_reads_its_own_writes) {
  auto m = join("ryw");
  for (int i = 0; i < 20; ++i)
    m->set("k", std::to_string(i));
  BOOST_TEST(opt(*m->set_and_wait("k", "last")) != "none");
  BOOST_TEST(opt(m->get("k")) == "\"last\"");
}

BOOST_AUTO_TEST_CASE(ttl_absolute_and_sliding) {
  rmap::options abs;
  abs.ttl = 2s;
  auto sliding = abs;
  sliding.sliding_ttl = true;
  auto a = join("ttl-abs", abs);
  auto s = join("ttl-slide", sliding);
  a->set("k", "1");
  s->set("k", "1");
  std::this_thread::sleep_for(600ms);
  a->set("k", "2");
  s->set("k", "2");
  BOOST_TEST(redis()("PTTL", "map:ttl-abs:content")->integer <= 1400);
  BOOST_TEST(redis()("PTTL", "map:ttl-slide:content")->integer > 1500);
  // Reset keeps an absolute TTL running instead of restarting it.
  BOOST_REQUIRE(!a->reset());
  BOOST_TEST(redis()("PTTL", "map:ttl-abs:content")->integer <= 1400);
}

BOOST_AUTO_TEST_CASE(close_freezes_reads_and_rejects_writes_but_reset) {
  auto m = join("closing");
  m->set_and_wait("k", "v");
  m->close();
  m->close(); // idempotent
  BOOST_TEST(m->closed());
  BOOST_TEST(opt(m->get("k")) == "\"v\"");
  auto w = m->set("k", "w");
  BOOST_REQUIRE(!w);
  BOOST_TEST(code_of(w.error()) == errc::closed);
  BOOST_TEST(render(w.error()).find("pulse map: closing is stopped")
             != std::string::npos);
  BOOST_TEST(!m->reset()); // allowed after close
  BOOST_TEST(redis()("HLEN", "map:closing:content")->integer == 2);
  BOOST_TEST(opt(m->get("k")) == "\"v\""); // frozen
}

BOOST_AUTO_TEST_CASE(destroy_then_reuse_keeps_revisions_increasing) {
  auto m = join("reuse");
  m->set("a", "1");
  auto before = *m->set_ex("b", "2");
  BOOST_REQUIRE(!m->destroy());
  BOOST_TEST(wait_until([&] { return m->len() == 0; }));
  auto after = *m->set_ex("c", "3");
  BOOST_TEST(after.rev == before.rev + 2);
  BOOST_TEST(wait_until([&] { return opt(m->get("c")) == "\"3\""; }));
}

BOOST_AUTO_TEST_SUITE_END()
