// Worker pools against a real Redis, in one process: dispatch (blocking
// and asynchronous), stop, notify, errors of handlers and keys, admission
// control, user actors as workers. The other cases of the `pool` suite:
// pool_membership_test.cpp, pool_recovery_test.cpp, pool_ticker_test.cpp.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

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

BOOST_AUTO_TEST_CASE(jobs_wait_for_the_first_worker) {
  auto n = node();
  // The thread adds the worker without Boost.Test macros (they are not
  // thread-safe: a check here raced the main thread's, TSan found it); the
  // result is checked after the join.
  caf::expected<std::string> added{std::string{}};
  auto h = std::make_shared<recorder>(log);
  std::thread t{[&] {
    std::this_thread::sleep_for(100ms);
    added = n->add_worker(h);
  }};
  BOOST_TEST(!n->dispatch("early", "x")); // queued until a worker exists
  t.join();
  BOOST_REQUIRE_MESSAGE(added, describe(added));
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

BOOST_AUTO_TEST_SUITE_END()
