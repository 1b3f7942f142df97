// Worker pools against a real Redis: tickers shared by the nodes of a pool
// and the scheduler, which plans jobs on such a ticker.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/ticker.hpp"
#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

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

BOOST_FIXTURE_TEST_SUITE(pool, pool_fixture)

BOOST_AUTO_TEST_CASE(ticker_first_tick_and_period_change) {
  auto n = node();
  // Shared with the callback, which may run after the test returned.
  struct seen {
    std::mutex mtx;
    std::vector<std::chrono::steady_clock::time_point> ticks;
  };
  auto s = std::make_shared<seen>();
  auto t0 = std::chrono::steady_clock::now();
  auto t = n->new_ticker("first", 200ms, [s](int64_t) {
    std::lock_guard<std::mutex> guard{s->mtx};
    s->ticks.push_back(std::chrono::steady_clock::now());
  });
  BOOST_REQUIRE(t);
  BOOST_TEST(wait_until([&] {
    std::lock_guard<std::mutex> guard{s->mtx};
    return !s->ticks.empty();
  }));
  {
    std::lock_guard<std::mutex> guard{s->mtx};
    // One period after the ticker joined (on Redis' clock): not at once,
    // and not a period late (the join itself is a round trip, slow in a
    // sanitized build).
    auto first = s->ticks[0] - t0;
    BOOST_TEST((first >= 150ms && first <= 1s),
               (first / 1ms) << " ms to the first tick");
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
  // Shared with the callbacks, which may still run after the test returns
  // (exiting a ticker is asynchronous).
  struct seen {
    std::mutex mtx;
    std::vector<int64_t> ticks;
  };
  auto s = std::make_shared<seen>();
  std::vector<caf::actor> tickers;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(node());
    auto t = nodes.back()->new_ticker("t", 50ms, [s](int64_t ms) {
      std::lock_guard<std::mutex> guard{s->mtx};
      s->ticks.push_back(ms);
    });
    BOOST_REQUIRE_MESSAGE(t, describe(t));
    tickers.push_back(*t);
  }
  std::this_thread::sleep_for(1s);
  std::vector<int64_t> ticks;
  {
    std::lock_guard<std::mutex> guard{s->mtx};
    ticks = s->ticks;
  }
  // ~20 ticks in one second; 3 nodes each ticking would give ~60. (The
  // lower bound only checks that it ticks: a loaded machine delays timers.)
  BOOST_TEST(ticks.size() >= 5u);
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
  auto count = std::make_shared<std::atomic<int>>(0);
  auto t1 = n1->new_ticker("g", 20ms, [count](int64_t) { ++*count; });
  auto t2 = n2->new_ticker("g", 20ms, [count](int64_t) { ++*count; });
  BOOST_REQUIRE(t1 && t2);
  BOOST_TEST(wait_until([&] { return *count > 3; }));
  (*self)->monitor(*t2);
  caf::anon_send(*t1, ticker_stop_atom::value);
  bool down = false;
  (*self)->receive([&](caf::down_msg&) { down = true; },
                caf::after(std::chrono::seconds{2}) >> [] {});
  BOOST_TEST(down); // the other node's ticker saw the entry vanish
  auto before = count->load();
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(*count == before);
}

BOOST_AUTO_TEST_CASE(busy_tick_receiver_gets_coalesced_ticks) {
  auto n = node();
  auto count = std::make_shared<std::atomic<int>>(0);
  auto t = n->new_ticker("busy", 10ms, [count](int64_t) {
    ++*count;
    std::this_thread::sleep_for(100ms);
  });
  BOOST_REQUIRE(t);
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(wait_until([&] { return *count >= 5; }, 10s));
  std::this_thread::sleep_for(300ms);
  // One tick at a time, the missed ones coalesced into one: at most one
  // delivery per 100 ms the receiver is busy (plus the one in progress),
  // not one per 10 ms period queued up.
  auto busy = std::chrono::steady_clock::now() - t0;
  auto most = static_cast<int>(busy / 100ms) + 2;
  BOOST_TEST(*count <= most, *count << " ticks in " << (busy / 1ms) << " ms");
  caf::anon_send_exit(*t, caf::exit_reason::user_shutdown);
}

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
