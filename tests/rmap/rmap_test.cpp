// Replicated maps against a real Redis: every operation, golden bytes,
// subscribers, TTLs, close, gaps, regressions, restarts.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/redis/sha1.hpp"

#include <map>
#include <sys/wait.h>
#include <unistd.h>
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using rmap_ptr = std::shared_ptr<rmap::map>;

std::string u32(uint32_t n) {
  std::string s;
  for (int i = 0; i < 4; ++i)
    s.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  return s;
}

std::string opt(const caf::optional<std::string>& x) {
  return x ? "\"" + *x + "\"" : std::string{"none"};
}

struct raw_box {
  std::mutex mtx;
  std::vector<std::string> payloads;
  size_t size() {
    std::lock_guard<std::mutex> g{mtx};
    return payloads.size();
  }
};

caf::behavior raw_listener(caf::event_based_actor*, std::shared_ptr<raw_box> b) {
  return {
    [=](const pubsub_message& m) {
      std::lock_guard<std::mutex> g{b->mtx};
      b->payloads.push_back(m.payload);
    },
    [](resub_atom, const std::string&) {},
  };
}

struct rmap_fixture : actor_fixture {
  explicit rmap_fixture(server_options o = {}) : actor_fixture(std::move(o)) {
    // nop
  }

  rmap_ptr join(const std::string& name, rmap::options o = {}) {
    auto m = rmap::map::join(*rt, name, o);
    BOOST_REQUIRE_MESSAGE(m, describe(m));
    return *m;
  }

  // Replica content equals the Redis hash minus reserved fields.
  bool converged(const rmap_ptr& m) {
    auto h = redis()("HGETALL", "map:" + m->name() + ":content");
    if (!h)
      return false;
    rmap_store::content expected;
    uint64_t rev = 0;
    for (size_t i = 0; i + 1 < h->elements.size(); i += 2) {
      auto& k = h->elements[i].str;
      if (k == "=rev")
        rev = static_cast<uint64_t>(*h->elements[i + 1].as_integer());
      else if (k != "=kind")
        expected[k] = h->elements[i + 1].str;
    }
    return m->snapshot() == expected && m->rev() == rev;
  }

  replica_stats stats(const rmap_ptr& m) {
    replica_stats r;
    (*self)->request(m->replica(), 5s, stats_atom::value)
      .receive([&](replica_stats& x) { r = x; },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
    return r;
  }
};

server_options with_aof() {
  server_options o;
  o.aof = true;
  return o;
}

struct aof_rmap_fixture : rmap_fixture {
  aof_rmap_fixture() : rmap_fixture(with_aof()) {
    // nop
  }
};

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

BOOST_AUTO_TEST_CASE(coarse_subscribers_coalesce_to_the_strongest_kind) {
  auto m = join("notify");
  struct seen_t {
    std::mutex mtx;
    std::vector<map_event_kind> kinds;
  };
  auto seen = std::make_shared<seen_t>();
  auto gate = std::make_shared<std::atomic<bool>>(false);
  auto sub = sys->spawn([=](caf::event_based_actor*) -> caf::behavior {
    return {
      [=](map_event_atom, const std::string&, map_event_kind k) {
        // Slow first reply: later events coalesce meanwhile.
        while (!*gate)
          std::this_thread::sleep_for(1ms);
        std::lock_guard<std::mutex> g{seen->mtx};
        seen->kinds.push_back(k);
        return true;
      },
    };
  });
  (*self)->request(m->replica(), 5s, sub_atom::value, caf::actor_cast<pulse::map_event_subscriber_actor>(sub))
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  m->set_and_wait("a", "1");   // change (in flight, subscriber blocked)
  m->set_and_wait("b", "1");   // change
  BOOST_REQUIRE(!m->reset());  // reset
  m->set_and_wait("c", "1");   // change
  *gate = true;
  BOOST_REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> g{seen->mtx};
    return seen->kinds.size() == 2;
  }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard<std::mutex> g{seen->mtx};
  BOOST_REQUIRE_EQUAL(seen->kinds.size(), 2u);
  BOOST_TEST((seen->kinds[0] == map_event_kind::change));
  BOOST_TEST((seen->kinds[1] == map_event_kind::reset)); // not hidden
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(detailed_subscribers_get_every_change) {
  auto m = join("details");
  struct seen_t {
    std::mutex mtx;
    std::vector<map_change> changes;
  };
  auto seen = std::make_shared<seen_t>();
  auto sub = sys->spawn([=](caf::event_based_actor*) -> caf::behavior {
    return {
      [=](map_changes& xs) {
        std::lock_guard<std::mutex> g{seen->mtx};
        for (auto& c : xs.changes)
          seen->changes.push_back(c);
        return true;
      },
    };
  });
  (*self)->request(m->replica(), 5s, sub_atom::value, caf::actor_cast<pulse::map_changes_subscriber_actor>(sub))
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  m->set("k", "1");
  m->set("k", "2");
  m->del("k");
  BOOST_REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> g{seen->mtx};
    return seen->changes.size() == 3;
  }));
  std::lock_guard<std::mutex> g{seen->mtx};
  auto& c = seen->changes;
  BOOST_TEST((c[0].kind == map_event_kind::change));
  BOOST_TEST(!c[0].existed);
  BOOST_TEST(c[0].new_value == "1");
  BOOST_TEST(c[1].old_value == "1");
  BOOST_TEST(c[1].new_value == "2");
  BOOST_TEST((c[2].kind == map_event_kind::del));
  BOOST_TEST(c[2].old_value == "2");
  BOOST_TEST(c[2].rev == c[0].rev + 2);
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(concurrent_writers) {
  auto m = join("concurrent");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        m->set("t" + std::to_string(t) + ":" + std::to_string(i), "v");
      for (int i = 0; i < 50; ++i)
        m->inc("shared", 1);
    });
  for (auto& t : ts)
    t.join();
  BOOST_TEST(wait_until([&] { return converged(m); }));
  BOOST_TEST(m->len() == 201u);
  BOOST_TEST(opt(m->get("shared")) == "\"200\"");
}

BOOST_AUTO_TEST_CASE(gap_in_revisions_triggers_a_resync) {
  auto m = join("gappy");
  m->set_and_wait("a", "1");
  // A write that publishes nothing (as if its message was lost), then a
  // normal one: the replica sees rev+2 and resyncs.
  redis()("HSET", "map:gappy:content", "hidden", "x");
  redis()("HINCRBY", "map:gappy:content", "=rev", "1");
  m->set("b", "2");
  BOOST_TEST(wait_until([&] { return converged(m); }));
  BOOST_TEST(opt(m->get("hidden")) == "\"x\"");
  BOOST_TEST(stats(m).gaps >= 1u);
}

BOOST_AUTO_TEST_CASE(revision_regression_triggers_a_resync) {
  auto m = join("regress");
  for (int i = 0; i < 5; ++i)
    m->set_and_wait("k" + std::to_string(i), "v");
  // The hash expires (or Redis lost it): revisions start again at 1.
  redis()("DEL", "map:regress:content");
  m->set("fresh", "1");
  BOOST_TEST(wait_until([&] { return converged(m); }));
  BOOST_TEST(m->len() == 1u);
  BOOST_TEST(m->rev() == 1u);
}

BOOST_AUTO_TEST_CASE(killed_subscription_resyncs_missed_updates) {
  auto m = join("resub");
  m->set_and_wait("a", "1");
  auto other = join("resub"); // a second replica in this process
  // Kill the pub/sub connection, write meanwhile from the gateway.
  redis()("CLIENT", "KILL", "TYPE", "pubsub");
  for (int i = 0; i < 10; ++i)
    m->set("k" + std::to_string(i), std::to_string(i));
  BOOST_TEST(wait_until([&] { return converged(m) && converged(other); }));
  BOOST_TEST(m->len() == 11u);
}

BOOST_AUTO_TEST_CASE(malformed_notifications_are_dropped) {
  auto m = join("noise");
  redis()("PUBLISH", "map:noise:updates", "garbage");
  redis()("PUBLISH", "map:noise:updates", "set:\x05");
  m->set_and_wait("k", "v");
  BOOST_TEST(opt(m->get("k")) == "\"v\"");
  BOOST_TEST(stats(m).malformed == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(rmap_restart, aof_rmap_fixture)

BOOST_AUTO_TEST_CASE(replicas_converge_after_redis_restart) {
  auto m = join("survive");
  for (int i = 0; i < 10; ++i)
    m->set("k" + std::to_string(i), "v");
  BOOST_REQUIRE(wait_until([&] { return converged(m); }));
  server().kill();
  std::this_thread::sleep_for(100ms);
  BOOST_REQUIRE(!server().restart());
  BOOST_REQUIRE(wait_until([&] { return redis()("PING").engaged(); }, 5s));
  BOOST_TEST(wait_until(
    [&] {
      auto r = m->set("after", "restart");
      return r.engaged();
    },
    5s));
  BOOST_TEST(wait_until([&] { return converged(m); }, 5s));
  BOOST_TEST(opt(m->get("after")) == "\"restart\"");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(rmap_processes, rmap_fixture)

BOOST_AUTO_TEST_CASE(three_processes_mutating_concurrently_converge) {
  constexpr int procs = 3;
  std::vector<std::pair<pid_t, int>> children;
  auto port = std::to_string(this->port());
  for (int i = 0; i < procs; ++i) {
    int out[2];
    BOOST_REQUIRE(::pipe(out) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      auto seed = std::to_string(1000 + i);
      ::execl(PULSE_RMAP_PROCESS, PULSE_RMAP_PROCESS, port.c_str(), "shared",
              seed.c_str(), "300", std::to_string(procs).c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    children.emplace_back(pid, out[0]);
  }
  std::vector<std::string> outputs;
  for (auto [pid, fd] : children) {
    std::string output;
    char buf[256];
    ssize_t got;
    while ((got = ::read(fd, buf, sizeof(buf))) > 0)
      output.append(buf, static_cast<size_t>(got));
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0);
    outputs.push_back(output);
  }
  // The Redis hash, digested the same way.
  auto h = redis()("HGETALL", "map:shared:content");
  std::map<std::string, std::string> sorted;
  std::string rev;
  for (size_t i = 0; i + 1 < h->elements.size(); i += 2) {
    if (h->elements[i].str == "=rev")
      rev = h->elements[i + 1].str;
    else if (h->elements[i].str != "=kind")
      sorted[h->elements[i].str] = h->elements[i + 1].str;
  }
  std::string text;
  for (auto& [k, v] : sorted)
    text += k + "=" + v + "\n";
  auto expected = "digest " + sha1_hex(text) + " rev " + rev + "\n";
  BOOST_TEST(std::stoi(rev) >= 300); // most mutations changed something
  for (auto& out : outputs)
    BOOST_TEST(out == expected);
}

BOOST_AUTO_TEST_SUITE_END()
