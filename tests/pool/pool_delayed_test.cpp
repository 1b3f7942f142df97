// Worker pools against a real Redis: delayed jobs (dispatch_at,
// dispatch_in, cancel_delayed) start once, when due, on the worker the key
// routes to, also with several nodes racing to promote them.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// A recorder that also notes the wall-clock time (Unix ms) of each start.
struct timed_recorder : recorder {
  using recorder::recorder;
  std::mutex mtx;
  std::multimap<std::string, int64_t> starts;

  caf::error start(const job& x) override {
    // Noted before the journal sees the start: a test that waits for the
    // journal's start then always finds its time here.
    std::multimap<std::string, int64_t>::iterator at;
    {
      std::lock_guard<std::mutex> guard{mtx};
      at = starts.emplace(x.key, unix_ms());
    }
    auto err = recorder::start(x);
    if (err) {
      std::lock_guard<std::mutex> guard{mtx};
      starts.erase(at);
    }
    return err;
  }

  /// When `key` first started, or -1.
  int64_t started(const std::string& key) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = starts.find(key);
    return i == starts.end() ? -1 : i->second;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_delayed, pool_fixture)

BOOST_AUTO_TEST_CASE(dispatch_in_starts_the_job_when_due_and_not_before) {
  auto n = node();
  auto h = std::make_shared<timed_recorder>(log);
  worker(*n, h);
  auto before = unix_ms();
  auto due = n->dispatch_in("k", "pay", 300ms);
  BOOST_REQUIRE_MESSAGE(due, describe(due));
  // Redis' clock is this machine's: the due time is 300 ms from the call.
  BOOST_TEST(*due >= before + 300);
  BOOST_TEST(*due <= unix_ms() + 300);
  BOOST_REQUIRE(wait_until([&] { return log->count('s', "k") == 1; }, 5s));
  auto started = h->started("k");
  // Redis rounds its clock down to the ms: at most 1 ms early.
  BOOST_TEST(started >= *due - 1, "started " << (*due - started)
                                              << " ms early");
  BOOST_TEST(started <= *due + 200, "started " << (started - *due)
                                                << " ms late");
  BOOST_TEST(log->entries.at(0).payload == "pay");
  // It is an ordinary job now: listed, stoppable, never started twice.
  auto keys = n->job_keys();
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  BOOST_TEST(joined(*keys) == "k ");
  BOOST_TEST(!n->stop_job("k"));
  BOOST_TEST(log->count('s', "k") == 1);
}

BOOST_AUTO_TEST_CASE(dispatch_at_a_past_time_starts_at_once) {
  auto n = node();
  worker(*n);
  auto due = n->dispatch_at("old", "x",
                            std::chrono::system_clock::now() - 1h);
  BOOST_REQUIRE_MESSAGE(due, describe(due));
  BOOST_TEST(*due <= unix_ms() - 3'500'000);
  BOOST_TEST(wait_until([&] { return log->count('s', "old") == 1; }, 2s));
}

BOOST_AUTO_TEST_CASE(a_key_has_at_most_one_delayed_job) {
  auto n = node();
  worker(*n);
  BOOST_REQUIRE(n->dispatch_in("k", "1", 10min));
  auto again = n->dispatch_in("k", "2", 1ms);
  BOOST_REQUIRE(!again);
  BOOST_TEST(code_of(again.error()) == errc::job_exists);
  auto bad = n->dispatch_in("", "x", 1ms);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::invalid_argument);
  auto neg = n->dispatch_in("k2", "x", -1ms);
  BOOST_REQUIRE(!neg);
  BOOST_TEST(code_of(neg.error()) == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(cancel_delayed_deletes_the_job_before_it_is_due) {
  auto n = node();
  worker(*n);
  BOOST_REQUIRE(n->dispatch_in("gone", "x", 200ms));
  BOOST_REQUIRE(n->dispatch_in("kept", "x", 200ms));
  BOOST_TEST(!n->cancel_delayed("gone"));
  auto again = n->cancel_delayed("gone");
  BOOST_TEST(code_of(again) == errc::not_found);
  BOOST_REQUIRE(wait_until([&] { return log->count('s', "kept") == 1; }, 5s));
  // "gone" was due at the same time as "kept": it would have started too.
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(log->count('s', "gone") == 0);
}

BOOST_AUTO_TEST_CASE(a_delayed_job_of_a_running_key_starts_once_it_stopped) {
  auto n = node();
  worker(*n);
  BOOST_REQUIRE(!n->dispatch("k", "first"));
  BOOST_REQUIRE(n->dispatch_in("k", "second", 50ms));
  // Due, but "k" still runs: it waits (re-checked every requeue_delay).
  std::this_thread::sleep_for(300ms);
  BOOST_TEST(log->count('s', "k") == 1);
  BOOST_REQUIRE(!n->stop_job("k"));
  BOOST_REQUIRE(wait_until([&] { return log->count('s', "k") == 2; }, 5s));
  BOOST_TEST(log->entries.back().payload == "second");
}

BOOST_AUTO_TEST_CASE(three_nodes_start_each_delayed_job_once) {
  auto a = node();
  auto b = node();
  auto c = node();
  worker(*a);
  worker(*b);
  worker(*c);
  auto client_opts = fast_options();
  client_opts.client_only = true;
  auto d = node(client_opts);
  // 200 jobs due over 400 ms, in mixed order, from a node that promotes
  // nothing itself: every full node races for each of them.
  for (int i = 0; i < 200; ++i) {
    auto delay = std::chrono::milliseconds{(i * 37) % 400};
    auto due = d->dispatch_in("j" + std::to_string(i), "x", delay);
    BOOST_REQUIRE_MESSAGE(due, describe(due));
  }
  BOOST_TEST(wait_until([&] { return log->count('s') == 200; }, 10s),
             log->count('s') << " of 200 started");
  std::this_thread::sleep_for(200ms); // a second start would show by now
  for (int i = 0; i < 200; ++i)
    BOOST_TEST(log->count('s', "j" + std::to_string(i)) == 1u);
  BOOST_TEST(log->overlaps.empty());
  auto keys = d->job_keys();
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  BOOST_TEST(keys->size() == 200u);
}

BOOST_AUTO_TEST_CASE(delayed_jobs_wait_for_a_worker_and_shutdown_purges_them) {
  auto n = node();
  // No worker: a due job is kept (unrouted) until one joins.
  BOOST_REQUIRE(n->dispatch_in("early", "x", 1ms));
  BOOST_REQUIRE(n->dispatch_in("late", "x", 10min));
  std::this_thread::sleep_for(100ms);
  worker(*n);
  BOOST_TEST(wait_until([&] { return log->count('s', "early") == 1; }, 5s));
  BOOST_TEST(log->count('s', "late") == 0);
  BOOST_REQUIRE(!n->shutdown());
  BOOST_TEST(joined(pool_keys()).empty(), joined(pool_keys()));
}

BOOST_AUTO_TEST_SUITE_END()
