// Worker pools against a real Redis: jobs that fail and are retried. Retries
// with exponential backoff (not early, not much late), the attempt number,
// the dead set with its error history, redrive and purge, per-dispatch
// options, a job waiting for a retry (dispatch refused, stop cancels it),
// fail_job of a long-running job, execution timeouts.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

/// Fails the first `fails` attempts of every job ("fail <attempt>"), then
/// returns "ok@<attempt>"; notes each attempt and when it began.
struct flaky : task_handler {
  explicit flaky(uint32_t fails) : fails(fails) {}
  std::atomic<uint32_t> fails;
  std::mutex mtx;
  std::vector<std::pair<uint32_t, clock_type::time_point>> seen;

  caf::expected<std::string> run(const job& j) override {
    {
      std::lock_guard<std::mutex> guard{mtx};
      seen.emplace_back(j.attempt, clock_type::now());
    }
    if (j.attempt <= fails)
      return make_error(errc::handler_failed,
                        "fail " + std::to_string(j.attempt));
    return "ok@" + std::to_string(j.attempt);
  }

  std::vector<std::pair<uint32_t, clock_type::time_point>> attempts() {
    std::lock_guard<std::mutex> guard{mtx};
    return seen;
  }
};

/// A long-running handler keeping each started job (with its attempt).
struct attempt_holder : recorder {
  using recorder::recorder;
  std::mutex mtx;
  std::vector<job> started;

  caf::error start(const job& j) override {
    { // kept before the journal sees the start (tests wait on either)
      std::lock_guard<std::mutex> guard{mtx};
      started.push_back(j);
    }
    return recorder::start(j);
  }

  size_t starts() {
    std::lock_guard<std::mutex> guard{mtx};
    return started.size();
  }

  job at(size_t i) {
    std::lock_guard<std::mutex> guard{mtx};
    return started.at(i);
  }
};

pool_options retry_options(int64_t attempts, caf::timespan base) {
  auto o = fast_options();
  o.max_attempts = attempts;
  o.retry_base = base;
  o.retry_jitter = 0;
  return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_retry, pool_fixture)

BOOST_AUTO_TEST_CASE(a_failing_task_is_retried_after_its_backoff) {
  auto n = node(retry_options(3, 150ms));
  auto h = std::make_shared<flaky>(2);
  BOOST_REQUIRE(n->add_worker(h));
  auto r = n->dispatch_and_wait("k", "x", 10s);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(*r == "ok@3");
  auto xs = h->attempts();
  BOOST_REQUIRE_EQUAL(xs.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i)
    BOOST_TEST(xs[i].first == i + 1);
  // Backoff 150 ms, then 300 ms: never early (Redis' clock, ms precision),
  // and not much late.
  auto gap1 = xs[1].second - xs[0].second;
  auto gap2 = xs[2].second - xs[1].second;
  BOOST_TEST((gap1 >= 148ms), "gap1 " << (gap1 / 1ms) << " ms");
  BOOST_TEST((gap2 >= 298ms), "gap2 " << (gap2 / 1ms) << " ms");
  BOOST_TEST((gap1 < 150ms + 1s));
  BOOST_TEST((gap2 < 300ms + 1s));
  // Nothing left behind: no record, no retry state, no dead job.
  auto keys = n->job_keys();
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  BOOST_TEST(keys->empty());
  auto dead = n->dead_jobs();
  BOOST_REQUIRE_MESSAGE(dead, describe(dead));
  BOOST_TEST(dead->empty());
  auto tries = redis()("HLEN", "pulse:pool:{p}:tries");
  BOOST_REQUIRE_MESSAGE(tries, describe(tries));
  BOOST_TEST(tries->integer == 0);
}

BOOST_AUTO_TEST_CASE(the_last_failure_puts_the_job_in_the_dead_set) {
  auto n = node(retry_options(3, 20ms));
  auto h = std::make_shared<flaky>(100);
  BOOST_REQUIRE(n->add_worker(h));
  auto r = n->dispatch_and_wait("bad", "payload-1", 10s);
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::handler_failed);
  BOOST_TEST(render(r.error()).find("fail 3") != std::string::npos,
             render(r.error()));
  BOOST_TEST(h->attempts().size() == 3u);
  auto dead = n->dead_jobs();
  BOOST_REQUIRE_MESSAGE(dead, describe(dead));
  BOOST_REQUIRE_EQUAL(dead->size(), 1u);
  auto& d = dead->front();
  BOOST_TEST(d.key == "bad");
  BOOST_TEST(d.payload == "payload-1");
  BOOST_TEST(d.attempts == 3u);
  BOOST_TEST(d.died_at > 0);
  BOOST_REQUIRE_EQUAL(d.failures.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    BOOST_TEST(d.failures[i].attempt == i + 1);
    BOOST_TEST(d.failures[i].error.find("fail " + std::to_string(i + 1))
                 != std::string::npos,
               d.failures[i].error);
    BOOST_TEST(d.failures[i].at <= d.died_at);
  }
  auto kept = n->job_result("bad");
  BOOST_REQUIRE_MESSAGE(kept, describe(kept));
  BOOST_REQUIRE(*kept);
  BOOST_TEST(!(*kept)->ok);
  auto keys = n->job_keys();
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  BOOST_TEST(keys->empty());
}

BOOST_AUTO_TEST_CASE(a_dead_job_is_redriven_or_purged) {
  auto n = node(retry_options(2, 20ms));
  auto h = std::make_shared<flaky>(100);
  BOOST_REQUIRE(n->add_worker(h));
  for (auto key : {"a", "b", "c"})
    BOOST_TEST(!n->dispatch_and_wait(key, key, 10s));
  BOOST_REQUIRE(wait_until([&] {
    auto d = n->dead_jobs();
    return d && d->size() == 3;
  }));
  // Redrive "a" once it can succeed: it starts again at attempt 1.
  h->fails = 0;
  auto moved = n->redrive({"a", "missing"});
  BOOST_REQUIRE_MESSAGE(moved, describe(moved));
  BOOST_TEST(*moved == 1u);
  BOOST_REQUIRE(wait_until([&] {
    auto kept = n->job_result("a");
    return kept && *kept && (*kept)->ok;
  }));
  BOOST_TEST((*n->job_result("a"))->value == "ok@1");
  auto dead = n->dead_jobs();
  BOOST_REQUIRE_MESSAGE(dead, describe(dead));
  BOOST_REQUIRE_EQUAL(dead->size(), 2u);
  BOOST_TEST(dead->at(0).key == "b");
  BOOST_TEST(dead->at(1).key == "c");
  // Purge one by key, then the rest.
  auto purged = n->purge_dead({"b"});
  BOOST_REQUIRE_MESSAGE(purged, describe(purged));
  BOOST_TEST(*purged == 1u);
  purged = n->purge_dead();
  BOOST_REQUIRE_MESSAGE(purged, describe(purged));
  BOOST_TEST(*purged == 1u);
  dead = n->dead_jobs();
  BOOST_REQUIRE_MESSAGE(dead, describe(dead));
  BOOST_TEST(dead->empty());
  // Nothing to redrive: nothing moves.
  moved = n->redrive();
  BOOST_REQUIRE_MESSAGE(moved, describe(moved));
  BOOST_TEST(*moved == 0u);
}

BOOST_AUTO_TEST_CASE(redrive_of_all_moves_every_dead_job_back) {
  auto n = node(retry_options(1, 20ms));
  auto h = std::make_shared<flaky>(100);
  BOOST_REQUIRE(n->add_worker(h));
  for (int i = 0; i < 20; ++i)
    n->dispatch_async("k" + std::to_string(i), "x", [](caf::error) {});
  BOOST_REQUIRE(wait_until([&] {
    auto d = n->dead_jobs(1000);
    return d && d->size() == 20;
  }));
  // max-attempts 1: one attempt each, no retry.
  BOOST_TEST(h->attempts().size() == 20u);
  h->fails = 0;
  auto moved = n->redrive();
  BOOST_REQUIRE_MESSAGE(moved, describe(moved));
  BOOST_TEST(*moved == 20u);
  BOOST_REQUIRE(wait_until([&] { return h->attempts().size() == 40u; }));
  BOOST_TEST(n->dead_jobs()->empty());
}

BOOST_AUTO_TEST_CASE(a_job_waiting_for_its_retry_is_refused_and_stoppable) {
  auto n = node(retry_options(3, 30s));
  auto h = std::make_shared<flaky>(100);
  BOOST_REQUIRE(n->add_worker(h));
  // The first attempt fails: the dispatch succeeds (it will be retried).
  BOOST_REQUIRE(!n->dispatch("w", "x"));
  BOOST_REQUIRE(wait_until([&] { return h->attempts().size() == 1; }));
  BOOST_REQUIRE(wait_until([&] {
    auto z = redis()("ZCARD", "pulse:pool:{p}:delayed");
    return z && z->integer == 1;
  }));
  BOOST_TEST(code_of(n->dispatch("w", "y")) == errc::job_exists);
  auto later = n->dispatch_in("w", "y", 1s);
  BOOST_REQUIRE(!later);
  BOOST_TEST(code_of(later.error()) == errc::job_exists);
  // Stopping it cancels the retry; the key is free again.
  BOOST_REQUIRE(!n->stop_job("w"));
  auto z = redis()("ZCARD", "pulse:pool:{p}:delayed");
  BOOST_REQUIRE_MESSAGE(z, describe(z));
  BOOST_TEST(z->integer == 0);
  h->fails = 0;
  auto r = n->dispatch_and_wait("w", "z", 5s);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(*r == "ok@1");
}

BOOST_AUTO_TEST_CASE(dispatch_options_override_the_pools_attempts) {
  auto n = node(); // retries off
  auto h = std::make_shared<flaky>(100);
  BOOST_REQUIRE(n->add_worker(h));
  // Retries off: the failure is final, no dead set.
  BOOST_TEST(!n->dispatch_and_wait("plain", "x", 5s));
  dispatch_options o;
  o.max_attempts = 2;
  auto r = n->dispatch_and_wait("opted", "x", 10s, o);
  BOOST_REQUIRE(!r);
  BOOST_TEST(render(r.error()).find("fail 2") != std::string::npos,
             render(r.error()));
  auto dead = n->dead_jobs();
  BOOST_REQUIRE_MESSAGE(dead, describe(dead));
  BOOST_REQUIRE_EQUAL(dead->size(), 1u);
  BOOST_TEST(dead->front().key == "opted");
  BOOST_TEST(dead->front().attempts == 2u);
  // And the other way round: 0 turns retries off for one job.
  auto n2 = node(retry_options(5, 20ms), "p2");
  auto h2 = std::make_shared<flaky>(100);
  BOOST_REQUIRE(n2->add_worker(h2));
  o.max_attempts = 0;
  BOOST_TEST(!n2->dispatch_and_wait("once", "x", 5s, o));
  BOOST_TEST(h2->attempts().size() == 1u);
  BOOST_TEST(n2->dead_jobs()->empty());
}

BOOST_AUTO_TEST_CASE(fail_job_of_a_long_running_job_retries_it) {
  auto n = node(retry_options(2, 20ms));
  auto h = std::make_shared<attempt_holder>(log);
  worker(*n, h);
  BOOST_REQUIRE(!n->dispatch("long", "x"));
  BOOST_REQUIRE(wait_until([&] { return h->starts() == 1; }));
  BOOST_TEST(h->at(0).attempt == 1u);
  BOOST_REQUIRE(!n->fail_job(h->at(0), "lost the connection"));
  BOOST_REQUIRE(wait_until([&] { return h->starts() == 2; }));
  auto second = h->at(1);
  BOOST_TEST(second.attempt == 2u);
  BOOST_TEST(second.payload == "x");
  BOOST_TEST(second.epoch > h->at(0).epoch);
  // The old epoch cannot fail it again; the new one ends it in the dead set.
  BOOST_TEST(code_of(n->fail_job(h->at(0), "late")) == errc::not_found);
  BOOST_REQUIRE(!n->fail_job(second, "still lost"));
  auto dead = n->dead_jobs();
  BOOST_REQUIRE_MESSAGE(dead, describe(dead));
  BOOST_REQUIRE_EQUAL(dead->size(), 1u);
  BOOST_REQUIRE_EQUAL(dead->front().failures.size(), 2u);
  BOOST_TEST(dead->front().failures[0].error == "lost the connection");
  BOOST_TEST(dead->front().failures[1].error == "still lost");
  // fail_job forgets the job without a stop call.
  BOOST_TEST(log->count('x', "long") == 0u);
}

BOOST_AUTO_TEST_CASE(a_job_over_its_timeout_is_stopped_and_retried) {
  auto o = retry_options(2, 20ms);
  o.job_timeout = 300ms;
  auto n = node(o);
  auto h = std::make_shared<attempt_holder>(log);
  worker(*n, h);
  auto t0 = clock_type::now();
  BOOST_REQUIRE(!n->dispatch("slow", "x"));
  // Stopped at its timeout, retried (attempt 2), stopped again, then dead.
  BOOST_REQUIRE(wait_until([&] {
    auto d = n->dead_jobs();
    return d && d->size() == 1;
  }, 10s));
  auto took = clock_type::now() - t0;
  BOOST_TEST((took >= 600ms), (took / 1ms) << " ms");
  BOOST_REQUIRE_EQUAL(h->starts(), 2u);
  BOOST_TEST(h->at(1).attempt == 2u);
  BOOST_TEST(log->count('x', "slow") == 2u);
  BOOST_TEST(log->overlaps.empty());
  auto d = n->dead_jobs()->front();
  BOOST_REQUIRE_EQUAL(d.failures.size(), 2u);
  BOOST_TEST(d.failures[1].error.find("timed out") != std::string::npos,
             d.failures[1].error);
  // A job that completes in time is not touched by its timer.
  BOOST_REQUIRE(!n->dispatch("quick", "x"));
  BOOST_REQUIRE(wait_until([&] { return h->starts() == 3; }));
  BOOST_REQUIRE(!n->complete_job(h->at(2), "done"));
  std::this_thread::sleep_for(400ms);
  BOOST_TEST(log->count('x', "quick") == 0u);
  BOOST_TEST(n->dead_jobs()->size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_task_over_its_own_timeout_fails) {
  auto n = node(); // no pool timeout, retries off
  struct sleeper : task_handler {
    caf::expected<std::string> run(const job&) override {
      std::this_thread::sleep_for(150ms);
      return std::string{"late"};
    }
  };
  BOOST_REQUIRE(n->add_worker(std::make_shared<sleeper>()));
  dispatch_options o;
  o.timeout = 50ms;
  auto r = n->dispatch_and_wait("t", "x", 5s, o);
  BOOST_REQUIRE(!r);
  BOOST_TEST(render(r.error()).find("timeout") != std::string::npos,
             render(r.error()));
  // Without the option it completes.
  auto ok = n->dispatch_and_wait("t2", "x", 5s);
  BOOST_REQUIRE_MESSAGE(ok, describe(ok));
  BOOST_TEST(*ok == "late");
}

BOOST_AUTO_TEST_SUITE_END()
