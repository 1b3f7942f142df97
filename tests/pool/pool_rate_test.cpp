// Worker pools against a real Redis: the rate limit. Dispatches over the
// limit are accepted at once and start in their slot, in order; a job
// waiting for its slot is one job (a second dispatch is refused, stop
// cancels it, dispatch_and_wait gets its result); delayed jobs due while
// the slots are taken wait too; bad options are refused.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

/// A task handler noting which job ran when; returns "done:<key>".
struct timed : task_handler {
  std::mutex mtx;
  std::vector<std::pair<std::string, clock_type::time_point>> runs;

  caf::expected<std::string> run(const job& j) override {
    std::lock_guard<std::mutex> guard{mtx};
    runs.emplace_back(j.key, clock_type::now());
    return "done:" + j.key;
  }

  std::vector<std::pair<std::string, clock_type::time_point>> all() {
    std::lock_guard<std::mutex> guard{mtx};
    return runs;
  }

  size_t count() {
    std::lock_guard<std::mutex> guard{mtx};
    return runs.size();
  }
};

pool_options rated(int64_t n, caf::timespan period) {
  auto o = fast_options();
  o.rate_limit = n;
  o.rate_period = period;
  return o;
}

/// Most of `runs` that began within any window of length `w`.
size_t most_in_window(
  const std::vector<std::pair<std::string, clock_type::time_point>>& runs,
  caf::timespan w) {
  std::vector<clock_type::time_point> ts;
  for (auto& r : runs)
    ts.push_back(r.second);
  std::sort(ts.begin(), ts.end());
  size_t most = 0;
  size_t lo = 0;
  for (size_t hi = 0; hi < ts.size(); ++hi) {
    while (ts[hi] - ts[lo] >= w)
      ++lo;
    most = std::max(most, hi - lo + 1);
  }
  return most;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_rate, pool_fixture)

BOOST_AUTO_TEST_CASE(dispatches_over_the_limit_start_in_their_slots) {
  auto n = node(rated(5, 400ms));
  auto h = std::make_shared<timed>();
  BOOST_REQUIRE(n->add_worker(h));
  BOOST_REQUIRE(n->add_worker(h));
  auto t0 = clock_type::now();
  for (int i = 0; i < 15; ++i) {
    auto err = n->dispatch("k" + std::to_string(i), "x");
    BOOST_REQUIRE_MESSAGE(!err, render(err));
  }
  // Accepted at once: a dispatch over the limit does not wait for its slot
  // (the last five start 800 ms after the first).
  auto took = clock_type::now() - t0;
  BOOST_TEST((took < 400ms), (took / 1ms) << " ms to dispatch");
  BOOST_REQUIRE(wait_until([&] { return h->count() == 15; }, 10s));
  auto runs = h->all();
  // 5 per 400 ms: never 6 in a window (100 ms allowed for delivery jitter
  // between the grant in Redis and the handler's start).
  BOOST_TEST(most_in_window(runs, 300ms) <= 5u);
  std::sort(runs.begin(), runs.end(),
            [](auto& a, auto& b) { return a.second < b.second; });
  auto span = runs.back().second - runs.front().second;
  BOOST_TEST((span >= 700ms), (span / 1ms) << " ms from first to last");
  // In dispatch order, slot by slot: k0..k4 first, k10..k14 last.
  for (size_t i = 0; i < 5; ++i) {
    auto first = runs[i].first;
    auto last = runs[10 + i].first;
    BOOST_TEST(std::stoi(first.substr(1)) < 5, first);
    BOOST_TEST(std::stoi(last.substr(1)) >= 10, last);
  }
  // Nothing left behind: no delayed job, no slot holder, one logged grant
  // per start still in the window at most.
  BOOST_REQUIRE(wait_until([&] {
    auto keys = n->job_keys();
    return keys && keys->empty();
  }));
  auto delayed = redis()("ZCARD", "pulse:pool:{p}:delayed");
  auto held = redis()("HLEN", "pulse:pool:{p}:rated");
  BOOST_REQUIRE(delayed && held);
  BOOST_TEST(delayed->integer == 0);
  BOOST_TEST(held->integer == 0);
}

BOOST_AUTO_TEST_CASE(a_job_waiting_for_its_slot_is_one_job) {
  auto n = node(rated(1, 10s));
  auto h = std::make_shared<timed>();
  BOOST_REQUIRE(n->add_worker(h));
  BOOST_REQUIRE(!n->dispatch("a", "x"));
  // "b" waits 10 s for its slot: dispatched once, refused twice.
  BOOST_REQUIRE(!n->dispatch("b", "x"));
  auto again = n->dispatch("b", "y");
  BOOST_TEST(code_of(again) == errc::job_exists, render(again));
  // Stopping it cancels it: it never runs, nothing is left.
  BOOST_TEST(!n->stop_job("b"));
  auto delayed = redis()("ZCARD", "pulse:pool:{p}:delayed");
  auto held = redis()("HLEN", "pulse:pool:{p}:rated");
  BOOST_REQUIRE(delayed && held);
  BOOST_TEST(delayed->integer == 0);
  BOOST_TEST(held->integer == 0);
  BOOST_REQUIRE(wait_until([&] { return h->count() == 1; }));
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(h->count() == 1u);
}

BOOST_AUTO_TEST_CASE(deferred_tasks_and_delayed_jobs_keep_their_outcome) {
  auto n = node(rated(2, 300ms));
  auto h = std::make_shared<timed>();
  BOOST_REQUIRE(n->add_worker(h));
  // The window opens when Redis grants "a" its slot, after this instant:
  // later slots are 300 ms and 600 ms after it at the earliest, however
  // long the dispatches below take (a start can come late, never early).
  auto t_a = clock_type::now();
  BOOST_REQUIRE(!n->dispatch("a", "x"));
  BOOST_REQUIRE(!n->dispatch("b", "x"));
  // Both slots of this window are taken: "c" waits for the next one, and
  // its dispatcher still gets the result.
  auto r = n->dispatch_and_wait("c", "x", 5s);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(*r == "done:c");
  // A delayed job due now, while "c" and "d" hold this window's slots,
  // takes the next slot instead of starting at once.
  BOOST_REQUIRE(!n->dispatch("d", "x"));
  auto t_e = clock_type::now();
  auto due = n->dispatch_in("e", "x", 10ms);
  BOOST_REQUIRE_MESSAGE(due, describe(due));
  BOOST_REQUIRE(wait_until([&] { return h->count() == 5; }, 5s));
  auto runs = h->all();
  auto start_of = [&](const std::string& key) {
    for (auto& run : runs)
      if (run.first == key)
        return run.second;
    BOOST_FAIL(key << " did not run");
    return clock_type::time_point{};
  };
  // Slots are whole milliseconds of Redis time: 1 ms of rounding, and a
  // few more for the clocks (Redis TIME, this steady clock).
  auto c_after = start_of("c") - t_a;
  BOOST_TEST((c_after >= 295ms), (c_after / 1ms) << " ms after a's grant");
  auto e_after = start_of("e") - t_a;
  BOOST_TEST((e_after >= 595ms), (e_after / 1ms) << " ms after a's grant, "
                                  << ((t_e - t_a) / 1ms)
                                  << " ms when dispatched");
  // One worker, one queue: "d" (granted at once) starts before "e".
  BOOST_TEST(runs.back().first == "e");
}

BOOST_AUTO_TEST_CASE(a_negative_rate_limit_is_refused) {
  auto o = fast_options();
  o.rate_limit = -1;
  auto n = pool_node::add_node(*rt, "p", o);
  BOOST_REQUIRE(!n);
  BOOST_TEST(code_of(n.error()) == errc::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
