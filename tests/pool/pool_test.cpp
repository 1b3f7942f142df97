// Worker pools against a real Redis, in one process: dispatch, stop,
// notify, errors, rebalancing, close, shutdown, client-only nodes,
// admission control, failover of a removed worker's jobs.

#include <boost/test/unit_test.hpp>

#include <thread>

#include <caf/all.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/jump_hash.hpp"
#include "pulse/actors/pool/ticker.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "tests/pool/recorder.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

pool_options fast_options() {
  pool_options o;
  o.worker_ttl = 600ms;
  o.ack_grace_period = 500ms;
  o.job_sink_block_duration = 100ms;
  o.worker_shutdown_ttl = 1s;
  o.requeue_delay = 50ms;
  return o;
}

struct pool_fixture : actor_fixture {
  std::shared_ptr<journal> log = std::make_shared<journal>();

  std::unique_ptr<pool_node> node(pool_options o = fast_options(),
                                  const std::string& pool = "p") {
    auto n = pool_node::add_node(*rt, pool, o);
    BOOST_REQUIRE_MESSAGE(n, describe(n));
    return std::move(*n);
  }

  std::string worker(pool_node& n, std::shared_ptr<recorder> h = nullptr) {
    if (!h)
      h = std::make_shared<recorder>(log);
    auto id = n.add_worker(h);
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    return *id;
  }

  static std::string joined(const std::vector<std::string>& xs) {
    std::string out;
    for (auto& x : xs)
      out += x + " ";
    return out;
  }

  /// Every key of the pool in Redis.
  std::vector<std::string> pool_keys(const std::string& pool = "p") {
    auto r = redis()("KEYS", pool_scripts::pool_prefix(pool) + "*");
    std::vector<std::string> out;
    if (r)
      for (auto& x : r->elements)
        out.push_back(x.str);
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool, pool_fixture)

BOOST_AUTO_TEST_CASE(dispatch_starts_on_the_single_worker) {
  auto n = node();
  auto w = worker(*n);
  BOOST_TEST(!n->dispatch("k1", "payload-1"));
  BOOST_TEST(log->owner("k1") == w);
  BOOST_TEST(log->count('s', "k1") == 1u);
  auto p = n->job_payload("k1");
  BOOST_REQUIRE(p);
  BOOST_TEST((*p && **p == "payload-1"));
  auto keys = n->job_keys();
  BOOST_REQUIRE(keys);
  BOOST_TEST(keys->size() == 1u);
  auto ws = n->workers();
  BOOST_REQUIRE(ws);
  BOOST_TEST(ws->size() == 1u);
}

BOOST_AUTO_TEST_CASE(empty_payload_and_missing_job) {
  auto n = node();
  worker(*n);
  BOOST_TEST(!n->dispatch("k", ""));
  auto p = n->job_payload("k");
  BOOST_REQUIRE(p);
  BOOST_TEST((*p && (*p)->empty()));
  auto q = n->job_payload("nope");
  BOOST_REQUIRE(q);
  BOOST_TEST(!*q);
}

BOOST_AUTO_TEST_CASE(second_dispatch_of_a_key_gets_job_exists) {
  auto n = node();
  worker(*n);
  BOOST_TEST(!n->dispatch("k", "a"));
  auto err = n->dispatch("k", "b");
  BOOST_TEST(code_of(err) == errc::job_exists, render(err));
}

BOOST_AUTO_TEST_CASE(concurrent_dispatch_of_one_key_one_wins) {
  auto n1 = node();
  auto n2 = node();
  worker(*n1);
  std::atomic<int> ok{0}, exists{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 20; ++i)
    ts.emplace_back([&, i] {
      auto err = (i % 2 ? n1 : n2)->dispatch("same", "x");
      if (!err)
        ++ok;
      else if (code_of(err) == errc::job_exists)
        ++exists;
    });
  for (auto& t : ts)
    t.join();
  BOOST_TEST(ok == 1);
  BOOST_TEST(exists == 19);
  BOOST_TEST(log->count('s', "same") == 1u);
}

BOOST_AUTO_TEST_CASE(async_dispatch_reports_every_result) {
  auto n = node();
  auto h = std::make_shared<recorder>(log);
  h->fail_keys.insert("bad");
  worker(*n, h);
  worker(*n, h);
  std::mutex mtx;
  std::map<errc, int> results;
  int done = 0;
  auto record = [&](caf::error err) {
    std::lock_guard<std::mutex> guard{mtx};
    ++results[code_of(err)];
    ++done;
  };
  for (int i = 0; i < 300; ++i)
    n->dispatch_async("a" + std::to_string(i), "x", record);
  for (int i = 0; i < 5; ++i)
    n->dispatch_async("dup", "x", record); // one batch or not: one wins
  n->dispatch_async("bad", "x", record);
  n->dispatch_async("", "x", record);
  BOOST_TEST(wait_until([&] {
    std::lock_guard<std::mutex> guard{mtx};
    return done == 307;
  }));
  std::lock_guard<std::mutex> guard{mtx};
  BOOST_TEST(results[errc::none] == 301);
  BOOST_TEST(results[errc::job_exists] == 4);
  BOOST_TEST(results[errc::handler_failed] == 1);
  BOOST_TEST(results[errc::invalid_argument] == 1);
  BOOST_TEST(log->count('s') == 301u);
}

BOOST_AUTO_TEST_CASE(async_dispatch_times_out_and_respects_admission) {
  auto o = fast_options();
  o.ack_grace_period = 100ms;
  o.max_queued_jobs = 10;
  auto n = node(o); // no worker
  std::mutex mtx;
  std::map<errc, int> results;
  int done = 0;
  for (int i = 0; i < 15; ++i)
    n->dispatch_async("t" + std::to_string(i), "x", [&](caf::error err) {
      std::lock_guard<std::mutex> guard{mtx};
      ++results[code_of(err)];
      ++done;
    });
  BOOST_TEST(wait_until([&] {
    std::lock_guard<std::mutex> guard{mtx};
    return done == 15;
  }));
  std::lock_guard<std::mutex> guard{mtx};
  BOOST_TEST(results[errc::timeout] == 10);
  BOOST_TEST(results[errc::overloaded] == 5);
}

BOOST_AUTO_TEST_CASE(many_jobs_leave_nothing_behind) {
  auto n = node();
  worker(*n);
  worker(*n);
  auto client_opts = fast_options();
  client_opts.client_only = true;
  auto c = node(client_opts);
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> done{0};
    for (int i = 0; i < 400; ++i)
      c->dispatch_async("m" + std::to_string(i), "x",
                        [&](caf::error) { ++done; });
    BOOST_REQUIRE(wait_until([&] { return done == 400; }));
    for (int i = 0; i < 400; ++i)
      BOOST_REQUIRE(!c->stop_job("m" + std::to_string(i)));
  }
  BOOST_TEST(wait_until([&] { return log->snapshot().empty(); }));
  BOOST_TEST(c->waiting_dispatches() == 0u);
  BOOST_TEST(n->waiting_dispatches() == 0u);
  // Only fixed-size keys remain: no per-job leftovers in Redis.
  auto pfx = pool_scripts::pool_prefix("p");
  for (auto& k : pool_keys()) {
    auto type = redis()("TYPE", k);
    BOOST_REQUIRE(type);
    std::map<std::string, const char*> len{{"hash", "HLEN"},
                                           {"set", "SCARD"},
                                           {"list", "LLEN"},
                                           {"zset", "ZCARD"},
                                           {"string", "STRLEN"}};
    BOOST_REQUIRE_MESSAGE(len.count(type->str), type->str);
    auto size = redis()(len[type->str], k);
    BOOST_REQUIRE_MESSAGE(size, k);
    if (k == pfx + "jobs" || k == pfx + "payloads" || k.find(":owned:") != std::string::npos
        || k.find(":q:") != std::string::npos)
      BOOST_TEST(size->integer == 0, k);
  }
  auto queued = redis()("GET", pfx + "queued");
  BOOST_REQUIRE(queued);
  BOOST_TEST((queued->is_nil() || queued->str == "0"), queued->str);
}

BOOST_AUTO_TEST_CASE(invalid_keys_are_rejected) {
  auto n = node();
  BOOST_TEST(code_of(n->dispatch("", "x")) == errc::invalid_argument);
  BOOST_TEST(code_of(n->dispatch("a=b", "x")) == errc::invalid_argument);
  BOOST_TEST(!pool_node::add_node(*rt, "bad name", fast_options()));
}

BOOST_AUTO_TEST_CASE(start_error_fails_the_dispatch_and_forgets_the_job) {
  auto n = node();
  auto h = std::make_shared<recorder>(log);
  h->fail_keys.insert("bad");
  worker(*n, h);
  auto err = n->dispatch("bad", "x");
  BOOST_TEST(code_of(err) == errc::handler_failed);
  BOOST_TEST(render(err).find("boom") != std::string::npos, render(err));
  auto p = n->job_payload("bad");
  BOOST_REQUIRE(p);
  BOOST_TEST(!*p);
  h->fail_keys.clear();
  BOOST_TEST(!n->dispatch("bad", "x")); // the key is free again
}

BOOST_AUTO_TEST_CASE(requeue_redelivers_the_start) {
  auto n = node();
  auto h = std::make_shared<recorder>(log);
  h->requeue_once.insert("rq");
  worker(*n, h);
  BOOST_TEST(!n->dispatch("rq", "x"));
  BOOST_TEST(log->count('s', "rq") == 1u);
}

BOOST_AUTO_TEST_CASE(stop_reaches_the_worker_and_removes_the_job) {
  auto n = node();
  auto w = worker(*n);
  BOOST_TEST(!n->dispatch("k", "x"));
  BOOST_TEST(!n->stop_job("k"));
  BOOST_TEST(wait_until([&] { return log->count('x', "k") == 1; }));
  BOOST_TEST(log->owner("k").empty());
  auto p = n->job_payload("k");
  BOOST_REQUIRE(p);
  BOOST_TEST(!*p);
  BOOST_TEST(code_of(n->stop_job("k")) == errc::not_found);
  BOOST_TEST(!n->dispatch("k", "again"));
}

BOOST_AUTO_TEST_CASE(notify_reaches_the_current_owner) {
  auto n = node();
  worker(*n);
  BOOST_TEST(!n->dispatch("k", "x"));
  BOOST_TEST(!n->notify_worker("k", "hello"));
  BOOST_TEST(wait_until([&] { return log->count('n', "k") == 1; }));
  BOOST_TEST(code_of(n->notify_worker("nope", "x")) == errc::not_found);
}

BOOST_AUTO_TEST_CASE(adding_a_worker_moves_exactly_the_jump_hash_keys) {
  auto n1 = node();
  auto n2 = node();
  auto w1 = worker(*n1);
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    keys.push_back("key-" + std::to_string(i));
    BOOST_REQUIRE(!n1->dispatch(keys.back(), "x"));
  }
  auto w2 = worker(*n2);
  // Expected owners: L = [w1, w2] (creation order).
  std::map<std::string, std::string> expect;
  size_t moving = 0;
  for (auto& k : keys) {
    expect[k] = jump_hash(k, 2) == 0 ? w1 : w2;
    moving += expect[k] == w2;
  }
  BOOST_TEST(moving > 10u);
  BOOST_TEST(wait_until([&] { return log->snapshot() == expect; }));
  // Exactly the moving keys were stopped and restarted, once each.
  for (auto& k : keys) {
    auto moved = expect[k] == w2;
    BOOST_TEST(log->count('x', k) == (moved ? 1u : 0u), k);
    BOOST_TEST(log->count('s', k) == (moved ? 2u : 1u), k);
  }
  BOOST_TEST(log->overlaps.empty());
}

BOOST_AUTO_TEST_CASE(stop_and_notify_follow_a_moved_job) {
  auto n = node();
  auto w1 = worker(*n);
  std::string key;
  for (int i = 0; key.empty(); ++i)
    if (jump_hash("m" + std::to_string(i), 2) == 1)
      key = "m" + std::to_string(i);
  BOOST_TEST(!n->dispatch(key, "x"));
  auto w2 = worker(*n);
  BOOST_TEST(wait_until([&] { return log->owner(key) == w2; }));
  BOOST_TEST(!n->notify_worker(key, "ping"));
  BOOST_TEST(wait_until([&] { return log->count('n', key) == 1; }));
  BOOST_TEST(!n->stop_job(key));
  BOOST_TEST(wait_until([&] { return log->count('x', key) == 2; }));
  BOOST_TEST(log->owner(key).empty());
}

BOOST_AUTO_TEST_CASE(removing_a_worker_hands_its_jobs_over) {
  auto n = node();
  auto w1 = worker(*n);
  auto w2 = worker(*n);
  for (int i = 0; i < 20; ++i)
    BOOST_REQUIRE(!n->dispatch("r" + std::to_string(i), "x"));
  BOOST_TEST(!n->remove_worker(w1));
  BOOST_TEST(wait_until([&] {
    auto s = log->snapshot();
    if (s.size() != 20)
      return false;
    for (auto& kv : s)
      if (kv.second != w2)
        return false;
    return true;
  }));
  BOOST_TEST(log->overlaps.empty());
  auto ws = n->pool_workers();
  BOOST_REQUIRE(ws);
  BOOST_TEST(ws->size() == 1u);
}

BOOST_AUTO_TEST_CASE(close_hands_jobs_to_the_other_node) {
  auto n1 = node();
  auto n2 = node();
  auto w1 = worker(*n1);
  auto w2 = worker(*n2);
  for (int i = 0; i < 20; ++i)
    BOOST_REQUIRE(!n2->dispatch("c" + std::to_string(i), "x"));
  BOOST_TEST(!n1->close());
  BOOST_TEST(n1->is_closed());
  BOOST_TEST(code_of(n1->dispatch("late", "x")) == errc::closed);
  BOOST_TEST(wait_until([&] {
    auto s = log->snapshot();
    return s.size() == 20
           && std::all_of(s.begin(), s.end(),
                          [&](auto& kv) { return kv.second == w2; });
  }));
  BOOST_TEST(log->overlaps.empty());
}

BOOST_AUTO_TEST_CASE(slow_stops_on_close_never_overlap_with_cleaners) {
  auto n1 = node();
  auto n2 = node();
  auto slow = std::make_shared<recorder>(log);
  slow->stop_delay = 40ms; // 10 jobs: 400 ms of stops, while cleaners run
  auto w1 = worker(*n1, slow);
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < 10; ++i)
    if (jump_hash("o" + std::to_string(i), 1) == 0)
      keys.push_back("o" + std::to_string(i));
  for (auto& k : keys)
    BOOST_REQUIRE(!n1->dispatch(k, "x"));
  auto w2 = worker(*n2);
  // Every key hashes somewhere; now close n1 while n2's cleaner runs.
  BOOST_TEST(wait_until([&] { return log->snapshot().size() == 10; }));
  BOOST_TEST(!n1->close());
  BOOST_TEST(wait_until([&] {
    auto s = log->snapshot();
    return s.size() == 10
           && std::all_of(s.begin(), s.end(),
                          [&](auto& kv) { return kv.second == w2; });
  }));
  BOOST_TEST(log->overlaps.empty(), log->overlaps.size());
}

BOOST_AUTO_TEST_CASE(jobs_wait_for_the_first_worker) {
  auto n = node();
  std::thread t{[&] {
    std::this_thread::sleep_for(100ms);
    worker(*n);
  }};
  BOOST_TEST(!n->dispatch("early", "x")); // queued until a worker exists
  t.join();
  BOOST_TEST(log->count('s', "early") == 1u);
}

BOOST_AUTO_TEST_CASE(max_queued_jobs_rejects_dispatch) {
  auto o = fast_options();
  o.max_queued_jobs = 3;
  o.ack_grace_period = 100ms;
  auto n = node(o); // no worker: every dispatch stays queued
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(code_of(n->dispatch("q" + std::to_string(i), "x"))
               == errc::timeout);
  auto err = n->dispatch("q3", "x");
  BOOST_TEST(code_of(err) == errc::overloaded, render(err));
  auto keys = n->job_keys();
  BOOST_REQUIRE(keys);
  BOOST_TEST(keys->size() == 3u); // nothing trimmed, nothing added
}

BOOST_AUTO_TEST_CASE(client_only_node_dispatches_and_closes) {
  auto o = fast_options();
  o.client_only = true;
  auto c = node(o);
  auto n = node();
  auto w = worker(*n);
  BOOST_TEST(!c->dispatch("k", "x"));
  BOOST_TEST(log->owner("k") == w);
  BOOST_TEST(!c->add_worker(std::make_shared<recorder>(log)));
  BOOST_TEST(!c->close());
  BOOST_TEST(!c->close()); // idempotent
}

BOOST_AUTO_TEST_CASE(shutdown_stops_every_job_and_leaves_no_keys) {
  auto n1 = node();
  auto n2 = node();
  worker(*n1);
  worker(*n2);
  for (int i = 0; i < 10; ++i)
    BOOST_REQUIRE(!n1->dispatch("s" + std::to_string(i), "x"));
  BOOST_TEST(!n1->shutdown());
  BOOST_TEST(wait_until([&] { return log->snapshot().empty(); }));
  BOOST_TEST(log->count('x') == 10u);
  BOOST_TEST(wait_until([&] { return n2->is_closed(); }));
  BOOST_TEST(pool_keys().empty(), joined(pool_keys()));
  // The pool name can be used again.
  auto again = node();
  worker(*again);
  BOOST_TEST(!again->dispatch("s0", "x"));
}

BOOST_AUTO_TEST_CASE(shutdown_from_a_client_only_node) {
  auto o = fast_options();
  o.client_only = true;
  auto c = node(o);
  auto n = node();
  worker(*n);
  BOOST_TEST(!c->dispatch("k", "x"));
  BOOST_TEST(!c->shutdown());
  BOOST_TEST(wait_until([&] { return log->count('x', "k") == 1; }));
  BOOST_TEST(pool_keys().empty(), joined(pool_keys()));
}

BOOST_AUTO_TEST_CASE(add_node_fails_while_shutting_down) {
  redis()("SET", pool_scripts::pool_prefix("p") + "shutdown", "x");
  auto n = pool_node::add_node(*rt, "p", fast_options());
  BOOST_REQUIRE(!n);
  BOOST_TEST(code_of(n.error()) == errc::shutting_down);
}

BOOST_AUTO_TEST_CASE(malformed_queue_entries_are_skipped) {
  auto n = node();
  auto w = worker(*n);
  auto q = pool_scripts::pool_prefix("p") + "q:" + w;
  redis()("RPUSH", q, "garbage", "S0 x", "Sx y", "N1 99 short");
  BOOST_TEST(!n->dispatch("good", "x"));
  BOOST_TEST(log->count('s') == 1u);
}

BOOST_AUTO_TEST_CASE(introspection_across_two_nodes) {
  auto n1 = node();
  auto n2 = node();
  worker(*n1);
  worker(*n1);
  worker(*n2);
  for (int i = 0; i < 4; ++i)
    BOOST_REQUIRE(!n1->dispatch("i" + std::to_string(i), "x"));
  auto local = n1->workers();
  BOOST_REQUIRE(local);
  BOOST_TEST(local->size() == 2u);
  auto all = n2->pool_workers();
  BOOST_REQUIRE(all);
  BOOST_TEST(all->size() == 3u);
  for (size_t i = 1; i < all->size(); ++i) // routing order
    BOOST_TEST((*all)[i - 1].created_at <= (*all)[i].created_at);
  auto keys = n2->job_keys();
  BOOST_REQUIRE(keys);
  BOOST_TEST(keys->size() == 4u);
}

BOOST_AUTO_TEST_CASE(user_actor_as_worker) {
  auto n = node();
  auto seen = std::make_shared<std::vector<std::string>>();
  auto mtx = std::make_shared<std::mutex>();
  auto impl = [seen, mtx]() -> job_actor::behavior_type {
    return {
      [seen, mtx](job_start_atom, const job& j) -> caf::result<bool> {
        std::lock_guard<std::mutex> guard{*mtx};
        if (j.key == "refuse")
          return make_error(errc::invalid_argument, "refused by actor");
        seen->push_back("start " + j.key + " " + j.payload);
        return true;
      },
      [seen, mtx](job_stop_atom, const std::string& key) {
        std::lock_guard<std::mutex> guard{*mtx};
        seen->push_back("stop " + key);
        return true;
      },
      [seen, mtx](job_notify_atom, const std::string& key,
                  const std::string& payload) {
        std::lock_guard<std::mutex> guard{*mtx};
        seen->push_back("notify " + key + " " + payload);
        return true;
      },
    };
  };
  auto hdl = sys->spawn(impl);
  auto id = n->add_worker(hdl);
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  BOOST_TEST(!n->dispatch("a", "pa"));
  auto err = n->dispatch("refuse", "x");
  BOOST_TEST(render(err).find("refused by actor") != std::string::npos,
             render(err));
  BOOST_TEST(!n->notify_worker("a", "hi"));
  BOOST_TEST(!n->stop_job("a"));
  BOOST_TEST(wait_until([&] {
    std::lock_guard<std::mutex> guard{*mtx};
    return seen->size() == 3;
  }));
  std::lock_guard<std::mutex> guard{*mtx};
  BOOST_TEST((*seen == std::vector<std::string>{"start a pa", "notify a hi",
                                                "stop a"}));
  caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(redelivered_start_leaves_a_running_job_alone) {
  auto n = node();
  auto w = worker(*n);
  BOOST_TEST(!n->dispatch("k", "x"));
  auto rec = redis()("HGET", pool_scripts::pool_prefix("p") + "jobs", "k");
  BOOST_REQUIRE(rec);
  auto epoch = rec->str.substr(w.size() + 1);
  epoch = epoch.substr(0, epoch.find('|'));
  // The same start again (as a duplicate delivery would look), and an
  // older one.
  auto entry = [&](const std::string& e) {
    return "S" + e + " 1 0 0 kx";
  };
  redis()("RPUSH", pool_scripts::pool_prefix("p") + "q:" + w, entry(epoch),
          entry("1"));
  BOOST_TEST(!n->dispatch("other", "x")); // processed after the duplicates
  BOOST_TEST(log->count('s', "k") == 1u);
  BOOST_TEST(log->count('x', "k") == 0u);
  BOOST_TEST(log->owner("k") == w);
  auto after = redis()("HGET", pool_scripts::pool_prefix("p") + "jobs", "k");
  BOOST_REQUIRE(after);
  BOOST_TEST(after->str.find(w + "|" + epoch + "|r|") == 0u, after->str);
}

BOOST_AUTO_TEST_CASE(starts_lost_with_a_connection_are_queued_again) {
  auto n = node();
  auto w = worker(*n);
  BOOST_TEST(!n->dispatch("before", "x"));
  // A start popped by a BLMPOP whose reply never arrived: the record is
  // pending and owned by the worker, its queue entry is gone.
  auto pfx = pool_scripts::pool_prefix("p");
  redis()("HSET", pfx + "jobs", "lost", w + "|999999|p||");
  redis()("HSET", pfx + "payloads", "lost", "x");
  redis()("SADD", pfx + "owned:" + w, "lost");
  redis()("INCR", pfx + "queued");
  // And a stop whose entry was lost: the job's record is gone.
  BOOST_TEST(!n->dispatch("stopped", "x"));
  redis()("HDEL", pfx + "jobs", "stopped");
  redis()("HDEL", pfx + "payloads", "stopped");
  redis()("SREM", pfx + "owned:" + w, "stopped");
  // Drop every connection but ours: the worker's poll fails.
  redis()("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
  BOOST_TEST(wait_until([&] { return log->owner("lost") == w; }, 10s));
  BOOST_TEST(wait_until([&] { return log->count('x', "stopped") == 1; }));
  BOOST_TEST(log->count('s', "lost") == 1u);
  BOOST_TEST(log->count('s', "before") == 1u); // running jobs untouched
  BOOST_TEST(log->count('x', "before") == 0u);
}

BOOST_AUTO_TEST_CASE(notify_for_a_job_without_worker_is_not_found) {
  auto n = node(); // no worker: the job waits for one
  n->dispatch_async("w", "x", [](caf::error) {});
  BOOST_TEST(wait_until([&] {
    auto keys = n->job_keys();
    return keys && keys->size() == 1;
  }));
  auto err = n->notify_worker("w", "x");
  BOOST_TEST(code_of(err) == errc::not_found);
  BOOST_TEST(render(err).find("no worker yet") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(dead_workers_leave_the_membership) {
  auto n = node();
  auto live = worker(*n);
  // Five workers of a node that died: members with expired leases.
  // The job first: a cleaner may run between any two of these writes.
  auto pfx = pool_scripts::pool_prefix("p");
  redis()("HSET", pfx + "jobs", "orphan", "dead0|1|r|gone|");
  redis()("HSET", pfx + "payloads", "orphan", "x");
  redis()("SADD", pfx + "owned:dead0", "orphan");
  for (int i = 0; i < 5; ++i) {
    auto id = "dead" + std::to_string(i);
    redis()("HSET", pfx + "workers", id, std::to_string(i) + "|gone");
    redis()("ZADD", pfx + "alive", "1", "w:" + id);
  }
  redis()("INCR", pfx + "mrev");
  BOOST_TEST(wait_until([&] {
    auto ws = n->pool_workers();
    return ws && ws->size() == 1 && (*ws)[0].id == live;
  }));
  // The dead worker's job runs on the live one.
  BOOST_TEST(wait_until([&] { return log->owner("orphan") == live; }));
  auto left = redis()("SCARD", pfx + "orphans");
  BOOST_REQUIRE(left);
  BOOST_TEST(left->integer == 0);
}

BOOST_AUTO_TEST_CASE(cascade_of_closes_loses_no_job) {
  auto o = fast_options();
  o.worker_ttl = 200ms;
  o.worker_shutdown_ttl = 200ms;
  o.job_sink_block_duration = 50ms;
  o.ack_grace_period = 300ms;
  auto n1 = node(o);
  auto n2 = node(o);
  auto n3 = node(o);
  worker(*n1);
  auto w2 = worker(*n2);
  auto w3 = worker(*n3);
  for (int i = 0; i < 25; ++i)
    BOOST_REQUIRE(!n1->dispatch("c" + std::to_string(i), "x"));
  auto starts_on_w2 = log->count('s');
  std::thread closer{[&] { n1->close(); }};
  // Close node2 as soon as it starts a requeued job.
  BOOST_TEST(wait_until([&] {
    std::lock_guard<std::mutex> guard{log->mtx};
    for (size_t i = starts_on_w2; i < log->entries.size(); ++i)
      if (log->entries[i].kind == 's' && log->entries[i].worker == w2)
        return true;
    return false;
  }));
  n2->close();
  closer.join();
  BOOST_TEST(wait_until(
    [&] {
      auto s = log->snapshot();
      return s.size() == 25
             && std::all_of(s.begin(), s.end(),
                            [&](auto& kv) { return kv.second == w3; });
    },
    10s));
  BOOST_TEST(log->overlaps.empty());
}

BOOST_AUTO_TEST_CASE(ticker_first_tick_and_period_change) {
  auto n = node();
  std::mutex mtx;
  std::vector<std::chrono::steady_clock::time_point> ticks;
  auto t0 = std::chrono::steady_clock::now();
  auto t = n->new_ticker("first", 200ms, [&](int64_t) {
    std::lock_guard<std::mutex> guard{mtx};
    ticks.push_back(std::chrono::steady_clock::now());
  });
  BOOST_REQUIRE(t);
  BOOST_TEST(wait_until([&] {
    std::lock_guard<std::mutex> guard{mtx};
    return !ticks.empty();
  }));
  {
    std::lock_guard<std::mutex> guard{mtx};
    auto first = ticks[0] - t0;
    BOOST_TEST((first >= 150ms && first <= 400ms));
  }
  // Another creator with another period replaces the shared entry.
  auto t2 = n->new_ticker("first", 50ms, [](int64_t) {});
  BOOST_REQUIRE(t2);
  std::this_thread::sleep_for(100ms);
  auto v = redis()("HGET", pool_scripts::pool_prefix("p") + "tickers",
                   "first");
  BOOST_REQUIRE(v);
  BOOST_TEST(v->str.substr(v->str.find('|') + 1) == "50");
  caf::anon_send_exit(*t, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*t2, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(ticker_fires_on_exactly_one_node_per_period) {
  std::vector<std::unique_ptr<pool_node>> nodes;
  std::mutex mtx;
  std::vector<int64_t> ticks;
  std::vector<caf::actor> tickers;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(node());
    auto t = nodes.back()->new_ticker("t", 50ms, [&](int64_t ms) {
      std::lock_guard<std::mutex> guard{mtx};
      ticks.push_back(ms);
    });
    BOOST_REQUIRE_MESSAGE(t, describe(t));
    tickers.push_back(*t);
  }
  std::this_thread::sleep_for(1s);
  std::lock_guard<std::mutex> guard{mtx};
  // ~20 ticks in one second; 3 nodes each ticking would give ~60.
  BOOST_TEST(ticks.size() >= 14u);
  BOOST_TEST(ticks.size() <= 22u);
  for (size_t i = 1; i < ticks.size(); ++i)
    BOOST_TEST(ticks[i] - ticks[i - 1] >= 25, "ticks " << ticks[i - 1]
                                                        << " and " << ticks[i]);
  for (auto& t : tickers)
    caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(ticker_stop_is_global) {
  auto n1 = node();
  auto n2 = node();
  std::atomic<int> count{0};
  auto t1 = n1->new_ticker("g", 20ms, [&](int64_t) { ++count; });
  auto t2 = n2->new_ticker("g", 20ms, [&](int64_t) { ++count; });
  BOOST_REQUIRE(t1 && t2);
  BOOST_TEST(wait_until([&] { return count > 3; }));
  (*self)->monitor(*t2);
  caf::anon_send(*t1, ticker_stop_atom::value);
  bool down = false;
  (*self)->receive([&](caf::down_msg&) { down = true; },
                caf::after(std::chrono::seconds{2}) >> [] {});
  BOOST_TEST(down); // the other node's ticker saw the entry vanish
  auto before = count.load();
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(count == before);
}

BOOST_AUTO_TEST_CASE(busy_tick_receiver_gets_coalesced_ticks) {
  auto n = node();
  std::atomic<int> count{0};
  auto t = n->new_ticker("busy", 10ms, [&](int64_t) {
    ++count;
    std::this_thread::sleep_for(100ms);
  });
  BOOST_REQUIRE(t);
  std::this_thread::sleep_for(1s);
  // One tick at a time, the missed ones coalesced into one: about 10
  // deliveries in a second, not 100 queued ones.
  BOOST_TEST(count >= 5);
  BOOST_TEST(count <= 12);
  caf::anon_send_exit(*t, caf::exit_reason::user_shutdown);
}

namespace {

struct test_producer : job_producer {
  std::mutex mtx;
  job_plan next;
  std::atomic<int> calls{0};
  std::string name() const override {
    return "prod";
  }
  caf::expected<job_plan> plan() override {
    ++calls;
    std::lock_guard<std::mutex> guard{mtx};
    return next;
  }
  void set(std::vector<std::string> keys, bool stop_all) {
    std::lock_guard<std::mutex> guard{mtx};
    next = job_plan{};
    for (auto& k : keys)
      next.start.emplace_back(k, "p-" + k);
    next.stop_all = stop_all;
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(scheduler_reconciles_the_plan_on_one_node) {
  auto n1 = node();
  auto n2 = node();
  worker(*n1);
  auto prod = std::make_shared<test_producer>();
  prod->set({"a", "b", "c"}, true);
  auto s1 = n1->schedule(prod, 100ms);
  auto s2 = n2->schedule(prod, 100ms);
  BOOST_REQUIRE(s1 && s2);
  BOOST_TEST(wait_until([&] { return log->snapshot().size() == 3; }));
  prod->set({"b", "c", "d"}, true);
  BOOST_TEST(wait_until([&] {
    auto s = log->snapshot();
    return s.size() == 3 && s.count("d") && !s.count("a");
  }));
  BOOST_TEST(log->count('s', "b") == 1u); // running jobs are left alone
  auto c0 = prod->calls.load();
  std::this_thread::sleep_for(500ms);
  auto calls = prod->calls - c0;
  // One plan per interval across both nodes (about 5 in 500 ms).
  BOOST_TEST(calls >= 3);
  BOOST_TEST(calls <= 7);
  caf::anon_send_exit(*s1, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*s2, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
