// Pool workers on threads: scheduled (event-based, on CAF's scheduler
// threads) by default, detached on request (`detached_workers`,
// `pulse.pool.detached-workers`) or for handlers that block
// (`job_handler::blocks`); a node with hundreds of scheduled workers adds
// only a few threads and still runs what it dispatches.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/pool/pool_fixture.hpp"
#include "tests/support/threads.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// A task handler that returns its payload.
struct wt_echo : task_handler {
  caf::expected<std::string> run(const job& j) override {
    return j.payload;
  }
};

/// Dispatches `n` jobs `<prefix><i>` asynchronously from node `nd`; returns
/// how many started (waits for every result).
size_t wt_dispatch_all(pool_node& nd, const std::string& prefix, size_t n) {
  std::atomic<size_t> ok{0}, done{0};
  for (size_t i = 0; i < n; ++i)
    nd.dispatch_async(prefix + std::to_string(i), "x",
                      [&](caf::error err) {
                        if (!err)
                          ++ok;
                        ++done;
                      });
  // Each dispatch ends within its own timeout, so every callback ran
  // before the counters go out of scope.
  while (done.load() != n)
    wait_until([&] { return done.load() == n; }, 20s);
  return ok.load();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_threads, pool_fixture)

BOOST_AUTO_TEST_CASE(workers_run_on_the_scheduler_unless_detached) {
  // The option's default, and the config flag that turns it on.
  BOOST_TEST(!pool_options{}.detached_workers);
  pulse::config cfg;
  auto err = cfg.read({"--pulse.pool.detached-workers"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(pool_options::from(cfg.opts().pool).detached_workers);
  // Scheduled: 20 workers add no thread of their own (the node's own
  // actors and its intake's connection add a few).
  auto a = node();
  worker(*a); // the node's first worker brings its intake
  BOOST_TEST(!a->dispatch("warm", "x"));
  auto t0 = settled_thread_count();
  for (int i = 0; i < 20; ++i)
    worker(*a);
  auto t1 = thread_count();
  BOOST_TEST(t1 < t0 + 5, "threads " << t0 << " -> " << t1);
  BOOST_TEST(wt_dispatch_all(*a, "s", 100) == 100u);
  for (int i = 0; i < 100; ++i)
    BOOST_TEST(!log->owner("s" + std::to_string(i)).empty());
  BOOST_TEST(log->overlaps.empty());
  // Detached on request: a thread per worker.
  auto o = fast_options();
  o.detached_workers = true;
  auto b = node(o);
  worker(*b);
  auto t2 = settled_thread_count();
  for (int i = 0; i < 20; ++i)
    worker(*b);
  auto t3 = thread_count();
  BOOST_TEST(t3 >= t2 + 20, "threads " << t2 << " -> " << t3);
  // Handlers that block (tasks, user actors) always get a thread.
  auto c = node(fast_options(), "tasks");
  c->add_worker(std::make_shared<wt_echo>());
  auto t4 = settled_thread_count();
  for (int i = 0; i < 5; ++i) {
    auto id = c->add_worker(std::make_shared<wt_echo>());
    BOOST_REQUIRE_MESSAGE(id, describe(id));
  }
  auto t5 = thread_count();
  BOOST_TEST(t5 >= t4 + 5, "threads " << t4 << " -> " << t5);
  auto r = c->dispatch_and_wait("t1", "echo", 5s);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(*r == "echo");
  BOOST_TEST(!c->close());
  BOOST_TEST(!b->close());
  BOOST_TEST(!a->close());
}

BOOST_AUTO_TEST_CASE(two_hundred_scheduled_workers_use_few_threads) {
  auto o = fast_options();
  o.ack_grace_period = 5s; // 1,000 jobs at once on a loaded machine
  o.max_queued_jobs = 0;
  auto n = node(o);
  auto t0 = settled_thread_count();
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i)
    ids.push_back(worker(*n));
  auto t1 = thread_count();
  // The node's actors (node, cleaner, scheduler), its intake and its
  // connections: a handful, whatever the worker count.
  BOOST_TEST(t1 < t0 + 12, "threads " << t0 << " -> " << t1);
  // Its dispatch flushers and reader threads say what they are (a thread
  // names itself when it starts; the intake connects in the background).
  std::map<std::string, size_t> names;
  wait_until([&] {
    names = thread_names();
    return names["pulse.dispatch"] == 2u && names["pulse.reader"] >= 3u;
  }, 5s);
  BOOST_TEST(names["pulse.dispatch"] == 2u);
  BOOST_TEST(names["pulse.reader"] >= 3u); // shared gateway, pub/sub, intake
  BOOST_TEST(wt_dispatch_all(*n, "k", 1000) == 1000u);
  BOOST_TEST(log->count('s') == 1000u);
  BOOST_TEST(log->overlaps.empty());
  BOOST_TEST(thread_count() < t0 + 12);
  // Removing a worker hands its jobs over (the close's hand-over runs as
  // asynchronous attempts) to the others.
  auto gone = ids.front();
  auto mine = 0;
  for (auto& [key, w] : log->snapshot())
    if (w == gone)
      ++mine;
  BOOST_TEST_MESSAGE("jobs of the removed worker: " << mine);
  BOOST_REQUIRE(!n->remove_worker(gone));
  BOOST_TEST(wait_until([&] {
    auto s = log->snapshot();
    if (s.size() != 1000u)
      return false;
    for (auto& kv : s)
      if (kv.second == gone)
        return false;
    return true;
  }, 10s));
  BOOST_TEST(log->overlaps.empty());
  BOOST_TEST(!n->close());
}

BOOST_AUTO_TEST_SUITE_END()
