// Worker pools against a real Redis: jobs that finish. Task handlers whose
// result completes the job, complete_job / fail_job for work that ends
// later, dispatch_and_wait (blocking and async), kept outcomes, fencing.

#include <boost/test/unit_test.hpp>

#include <future>
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

/// Doubles the number in the payload; fails on "boom".
struct doubler : task_handler {
  caf::expected<std::string> run(const job& j) override {
    if (j.payload == "boom")
      return make_error(errc::handler_failed, "cannot double boom");
    return std::to_string(2 * std::stoi(j.payload));
  }
};


/// Completes each job inside its own start, before the worker's confirm
/// reaches Redis (`complete_job` blocks until the `complete` script ran).
struct completes_in_start : recorder {
  using recorder::recorder;

  pool_node* node = nullptr;
  std::mutex mtx;
  std::vector<caf::error> errors;

  caf::error start(const job& j) override {
    if (auto err = recorder::start(j))
      return err;
    auto err = node->complete_job(j, "done in start");
    std::lock_guard<std::mutex> guard{mtx};
    errors.push_back(err);
    return caf::none;
  }

  bool blocks() const override {
    return true; // waits for the node actor in `start`
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_tasks, pool_fixture)

BOOST_AUTO_TEST_CASE(a_task_result_reaches_dispatch_and_wait) {
  auto n = node();
  BOOST_REQUIRE(n->add_worker(std::make_shared<doubler>()));
  auto r = n->dispatch_and_wait("k", "21", 5s);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(*r == "42");
  // It left the pool: no record, the key is free again.
  auto keys = n->job_keys();
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  BOOST_TEST(keys->empty());
  auto kept = n->job_result("k");
  BOOST_REQUIRE_MESSAGE(kept, describe(kept));
  BOOST_REQUIRE(*kept);
  BOOST_TEST((*kept)->ok);
  BOOST_TEST((*kept)->value == "42");
  auto again = n->dispatch_and_wait("k", "5", 5s);
  BOOST_REQUIRE_MESSAGE(again, describe(again));
  BOOST_TEST(*again == "10");
}

BOOST_AUTO_TEST_CASE(a_failed_task_reports_its_error_and_keeps_it) {
  auto n = node();
  BOOST_REQUIRE(n->add_worker(std::make_shared<doubler>()));
  auto r = n->dispatch_and_wait("bad", "boom", 5s);
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::handler_failed);
  BOOST_TEST(render(r.error()).find("cannot double boom") != std::string::npos,
             render(r.error()));
  auto kept = n->job_result("bad");
  BOOST_REQUIRE_MESSAGE(kept, describe(kept));
  BOOST_REQUIRE(*kept);
  BOOST_TEST(!(*kept)->ok);
  BOOST_TEST((*kept)->value.find("cannot double boom") != std::string::npos);
  auto none = n->job_result("never");
  BOOST_REQUIRE_MESSAGE(none, describe(none));
  BOOST_TEST(!*none);
}

BOOST_AUTO_TEST_CASE(complete_job_finishes_a_running_job_without_a_stop) {
  auto n = node();
  auto h = std::make_shared<job_holder>(log);
  worker(*n, h);
  std::promise<caf::expected<std::string>> outcome;
  auto f = outcome.get_future();
  n->dispatch_for_result("long", "x", 5s,
                         [&](caf::expected<std::string> r) {
                           outcome.set_value(std::move(r));
                         });
  BOOST_REQUIRE(wait_until([&] { return static_cast<bool>(h->get("long")); }));
  BOOST_TEST((f.wait_for(100ms) == std::future_status::timeout));
  auto j = *h->get("long");
  BOOST_REQUIRE(!n->complete_job(j, "all done"));
  BOOST_REQUIRE((f.wait_for(5s) == std::future_status::ready));
  auto r = f.get();
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(*r == "all done");
  auto keys = n->job_keys();
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  BOOST_TEST(keys->empty());
  // Completed twice, or at an old epoch: refused.
  BOOST_TEST(code_of(n->complete_job(j, "again")) == errc::not_found);
  // The worker forgot it: no stop call, and closing stops nothing.
  BOOST_REQUIRE(!n->close());
  BOOST_TEST(log->count('x', "long") == 0u);
}

BOOST_AUTO_TEST_CASE(complete_job_before_the_confirm_stops_nothing) {
  // The completion lands before the start's `confirm`: that confirm finds
  // no record, yet the worker must not stop the job, since its `C` entry
  // follows. (A job that a cleaner settled after the worker was lost must
  // still be stopped: confirm_script tests both.)
  auto n = node();
  auto h = std::make_shared<completes_in_start>(log);
  h->node = n.get();
  worker(*n, h);
  for (auto key : {"first", "second"}) {
    auto r = n->dispatch_and_wait(key, "x", 5s);
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    BOOST_TEST(*r == "done in start");
  }
  // The result is published before `complete_job` returns in `start`.
  BOOST_REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> guard{h->mtx};
    return h->errors.size() == 2u;
  }));
  {
    std::lock_guard<std::mutex> guard{h->mtx};
    for (auto& err : h->errors)
      BOOST_TEST(!err, render(err));
  }
  // One worker handles its queue in order: "first"'s confirm (whose
  // reply would have stopped it) and its `C` entry came before "second"
  // started. ("second"'s `C` entry may still be on its way.)
  BOOST_TEST(log->count('x', "first") == 0u);
  auto keys = n->job_keys();
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  BOOST_TEST(keys->empty());
  BOOST_REQUIRE(!n->close());
  BOOST_TEST(log->count('x', "first") == 0u);
}

BOOST_AUTO_TEST_CASE(fail_job_ends_a_job_as_failed) {
  auto n = node();
  auto h = std::make_shared<job_holder>(log);
  worker(*n, h);
  std::promise<caf::expected<std::string>> outcome;
  auto f = outcome.get_future();
  n->dispatch_for_result("f", "x", 5s, [&](caf::expected<std::string> r) {
    outcome.set_value(std::move(r));
  });
  BOOST_REQUIRE(wait_until([&] { return static_cast<bool>(h->get("f")); }));
  BOOST_REQUIRE(!n->fail_job(*h->get("f"), "disk full"));
  BOOST_REQUIRE((f.wait_for(5s) == std::future_status::ready));
  auto r = f.get();
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::handler_failed);
  BOOST_TEST(render(r.error()).find("disk full") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(dispatch_and_wait_times_out_and_the_job_goes_on) {
  auto n = node();
  worker(*n); // a plain recorder: never completes
  auto t0 = std::chrono::steady_clock::now();
  auto r = n->dispatch_and_wait("slow", "x", 300ms);
  auto waited = std::chrono::steady_clock::now() - t0;
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::timeout);
  BOOST_TEST((waited >= 300ms && waited < 2s));
  auto keys = n->job_keys();
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  BOOST_TEST(joined(*keys) == "slow ");
}

BOOST_AUTO_TEST_CASE(a_result_reaches_a_dispatcher_on_another_node) {
  auto workers = node();
  BOOST_REQUIRE(workers->add_worker(std::make_shared<doubler>()));
  BOOST_REQUIRE(workers->add_worker(std::make_shared<doubler>()));
  auto o = fast_options();
  o.client_only = true;
  auto d = node(o);
  for (int i = 0; i < 20; ++i) {
    auto r = d->dispatch_and_wait("j" + std::to_string(i), std::to_string(i),
                                  5s);
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    BOOST_TEST(*r == std::to_string(2 * i));
  }
}

BOOST_AUTO_TEST_CASE(outcomes_are_kept_for_the_retention_only) {
  auto o = fast_options();
  o.result_retention = 300ms;
  auto n = node(o);
  BOOST_REQUIRE(n->add_worker(std::make_shared<doubler>()));
  BOOST_REQUIRE(n->dispatch_and_wait("k", "1", 5s));
  auto ttl = redis()("PTTL", "pulse:pool:{p}:result:k");
  BOOST_REQUIRE_MESSAGE(ttl, describe(ttl));
  BOOST_TEST((ttl->integer > 0 && ttl->integer <= 300), ttl->integer);
  BOOST_TEST(wait_until(
    [&] {
      auto kept = n->job_result("k");
      return kept && !*kept;
    },
    3s));
  // Retention 0: nothing kept at all.
  o.result_retention = caf::timespan{0};
  auto m = node(o, "p0");
  BOOST_REQUIRE(m->add_worker(std::make_shared<doubler>()));
  BOOST_REQUIRE(m->dispatch_and_wait("k", "1", 5s));
  auto kept = m->job_result("k");
  BOOST_REQUIRE_MESSAGE(kept, describe(kept));
  BOOST_TEST(!*kept);
}

BOOST_AUTO_TEST_SUITE_END()
