// Worker pools with real processes: workers SIGKILLed mid-job, 1,000 jobs
// dispatched while worker processes are killed and restarted (no job lost,
// no key ever on two workers at once), Redis restarted with AOF mid-run.

#include <boost/test/unit_test.hpp>

#include "tests/pool/process_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(pool_processes, process_fixture)

BOOST_AUTO_TEST_CASE(sigkilled_worker_process_jobs_restart_elsewhere) {
  auto a = spawn(1);
  auto b = spawn(1);
  auto d = dispatcher();
  std::set<std::string> all;
  for (int i = 0; i < 30; ++i) {
    all.insert("job-" + std::to_string(i));
    BOOST_REQUIRE(!d->dispatch("job-" + std::to_string(i), "x"));
  }
  BOOST_REQUIRE(running() == all);
  std::set<std::string> on_a;
  for (auto& k : all)
    if (runner(k) == static_cast<int>(a))
      on_a.insert(k);
  BOOST_REQUIRE(!on_a.empty());
  BOOST_REQUIRE(on_a.size() < all.size());
  sigkill(children[a]);
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(wait_until([&] { return running() == all; }, 10s),
             keys_of(all) << " vs " << keys_of(running()));
  auto took = std::chrono::steady_clock::now() - t0;
  auto bound = std::chrono::milliseconds{ttl_ms + grace_ms};
  BOOST_TEST((took <= bound),
             "restart took "
               << std::chrono::duration_cast<std::chrono::milliseconds>(took)
                    .count()
               << " ms");
  for (auto& k : on_a)
    BOOST_TEST(runner(k) == static_cast<int>(b), k);
  auto ov = overlaps();
  BOOST_TEST(ov.empty(), ov.size() << " overlaps, first: "
                                   << (ov.empty() ? "" : ov[0]));
}

BOOST_AUTO_TEST_CASE(thousand_jobs_while_workers_are_killed_and_restarted) {
  for (int i = 0; i < 3; ++i)
    spawn(2);
  auto d = dispatcher();
  constexpr int total = 1000;
  std::atomic<int> next{0}, ok{0}, timeouts{0}, other{0};
  std::mutex err_mtx;
  std::string first_error;
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      for (int i = next++; i < total; i = next++) {
        std::this_thread::sleep_for(20ms); // spread over the chaos
        auto err = d->dispatch("k" + std::to_string(i), "x");
        if (!err)
          ++ok;
        else if (code_of(err) == errc::timeout)
          ++timeouts;
        else {
          ++other;
          std::lock_guard<std::mutex> guard{err_mtx};
          if (first_error.empty())
            first_error = render(err);
        }
      }
    });
  // Chaos: alternately SIGKILL and gracefully restart a worker process,
  // always starting the replacement first.
  std::mt19937 rng{42};
  int round = 0;
  while (next < total || round < 6) {
    std::this_thread::sleep_for(250ms);
    std::vector<size_t> live;
    for (size_t i = 0; i < children.size(); ++i)
      if (children[i].alive)
        live.push_back(i);
    spawn(2);
    auto victim = live[rng() % live.size()];
    if (round++ % 2 == 0)
      sigkill(children[victim]);
    else
      terminate(children[victim]);
  }
  for (auto& t : ts)
    t.join();
  BOOST_TEST(other == 0, first_error);
  BOOST_TEST(ok + timeouts == total);
  std::set<std::string> all;
  for (int i = 0; i < total; ++i)
    all.insert("k" + std::to_string(i));
  BOOST_TEST(wait_until([&] { return running() == all; }, 20s),
             running().size() << " of " << total << " running");
  auto ov = overlaps();
  BOOST_TEST(ov.empty(), ov.size() << " overlaps, first: "
                                   << (ov.empty() ? "" : ov[0]));
  BOOST_TEST_MESSAGE("dispatch ok=" << ok << " timeouts=" << timeouts
                                    << " rounds=" << round);
}

BOOST_AUTO_TEST_CASE(adding_a_worker_process_moves_exactly_the_hash_keys) {
  spawn(1);
  auto d = dispatcher();
  std::set<std::string> all;
  for (int i = 0; i < 50; ++i) {
    all.insert("h" + std::to_string(i));
    BOOST_REQUIRE(!d->dispatch("h" + std::to_string(i), "x"));
  }
  spawn(1);
  auto ws = d->pool_workers();
  BOOST_REQUIRE(ws);
  BOOST_REQUIRE(ws->size() == 2u);
  BOOST_TEST(wait_until([&] {
    if (running() != all)
      return false;
    for (auto& k : all)
      if (runner(k) != (jump_hash(k, 2) == 0 ? 0 : 1))
        return false;
    return true;
  }));
  // Only the moved keys ran twice.
  auto iv = intervals();
  for (auto& k : all)
    BOOST_TEST(iv[k].size() == (jump_hash(k, 2) == 0 ? 1u : 2u), k);
  BOOST_TEST(overlaps().empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(pool_redis_restart, aof_process_fixture)

BOOST_AUTO_TEST_CASE(redis_restarted_with_aof_loses_no_job) {
  spawn(2);
  spawn(2);
  auto d = dispatcher();
  std::set<std::string> all;
  auto dispatch = [&](const std::string& key) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      auto err = d->dispatch(key, "x");
      if (!err || code_of(err) == errc::job_exists
          || code_of(err) == errc::timeout)
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  for (int i = 0; i < 100; ++i) {
    all.insert("a" + std::to_string(i));
    BOOST_REQUIRE(dispatch("a" + std::to_string(i)));
  }
  BOOST_REQUIRE(running() == all);
  BOOST_REQUIRE(!server().restart());
  for (int i = 0; i < 100; ++i) {
    all.insert("b" + std::to_string(i));
    BOOST_REQUIRE(dispatch("b" + std::to_string(i)));
  }
  BOOST_TEST(wait_until([&] { return running() == all; }, 20s),
             running().size() << " of " << all.size() << " running");
  BOOST_TEST(overlaps().empty());
}

BOOST_AUTO_TEST_SUITE_END()
