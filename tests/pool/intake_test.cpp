// A node's intake (actors/pool/intake.hpp): one BLMPOP connection for all
// its workers' queues. Jobs spread over many workers each run once, the
// node's Redis connections do not grow with its workers, and a worker added
// or removed while the intake blocks gets (or gives up) its jobs at once,
// not after the block duration.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// Number of clients connected to the fixture's Redis (`CLIENT LIST`).
size_t intake_clients(client& c) {
  auto r = c("CLIENT", "LIST");
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  size_t n = 0;
  for (auto ch : r->str)
    n += ch == '\n' ? 1 : 0;
  return n;
}

/// Calls of `cmd` Redis has run (`INFO commandstats`).
size_t intake_calls(client& c, const std::string& cmd) {
  auto r = c("INFO", "commandstats");
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  auto field = "cmdstat_" + cmd + ":calls=";
  auto at = r->str.find(field);
  if (at == std::string::npos)
    return 0;
  return std::stoul(r->str.substr(at + field.size()));
}

/// `BLMPOP` calls Redis has run.
size_t intake_blmpop_calls(client& c) {
  return intake_calls(c, "blmpop");
}

/// Dispatches `key` from `n` and checks that the dispatch returned (the
/// job started) within 2 s, well before the intake's block duration.
void dispatch_within_2s(pool_node& n, const std::string& key) {
  auto t0 = std::chrono::steady_clock::now();
  auto err = n.dispatch(key, "p");
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST((took < 2s), key << " took "
                              << std::chrono::duration_cast<
                                   std::chrono::milliseconds>(took)
                                   .count()
                              << " ms");
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_intake, pool_fixture)

BOOST_AUTO_TEST_CASE(many_workers_run_every_job_once_on_few_connections) {
  auto before = intake_clients(redis());
  auto n = node();
  constexpr size_t workers = 50;
  for (size_t i = 0; i < workers; ++i)
    worker(*n);
  // Enough distinct keys that every worker gets some (jump hash).
  constexpr size_t jobs = 400;
  for (size_t i = 0; i < jobs; ++i) {
    auto err = n->dispatch("k" + std::to_string(i), "p");
    BOOST_REQUIRE_MESSAGE(!err, render(err));
  }
  BOOST_TEST(log->count('s') == jobs);
  std::set<std::string> started_by;
  for (size_t i = 0; i < jobs; ++i) {
    auto key = "k" + std::to_string(i);
    BOOST_TEST(log->count('s', key) == 1u, key);
    started_by.insert(log->owner(key));
  }
  BOOST_TEST(started_by.size() == workers);
  BOOST_TEST(log->overlaps.empty(), joined(log->overlaps));
  // The workers share the node's intake connection (one per node, up by
  // the time jobs ran): no connection of their own.
  auto with_workers = intake_clients(redis());
  BOOST_TEST(with_workers - before <= 2u,
             with_workers << " clients with " << workers << " workers, "
                          << before << " before the node");
}

BOOST_AUTO_TEST_CASE(workers_added_and_removed_while_the_intake_blocks) {
  auto o = fast_options();
  o.job_sink_block_duration = 10s; // far beyond every bound below
  o.ack_grace_period = 5s;         // so a late start still succeeds
  auto n = node(o);
  auto first = worker(*n);
  // One start proves the intake is up; it then blocks for 10 s.
  BOOST_REQUIRE(!n->dispatch("warm", "p"));
  std::vector<std::string> ids{first};
  for (int round = 0; round < 3; ++round) {
    ids.push_back(worker(*n));
    // Keys now spread over the new worker too: each starts well before
    // the intake's block duration would have run out.
    for (int i = 0; i < 20; ++i) {
      dispatch_within_2s(*n, "a" + std::to_string(round) + "-"
                                 + std::to_string(i));
    }
  }
  std::set<std::string> owners;
  for (auto& kv : log->snapshot())
    owners.insert(kv.second);
  BOOST_TEST(owners.size() == ids.size(), "jobs ran on " << owners.size()
                                                          << " of "
                                                          << ids.size()
                                                          << " workers");
  // Removing a worker while the intake blocks: its jobs move to the
  // others and new keys start at once on the remaining ones.
  auto t0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE(!n->remove_worker(ids.back()));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 3s));
  ids.pop_back();
  for (int i = 0; i < 20; ++i) {
    auto key = "b" + std::to_string(i);
    auto t1 = std::chrono::steady_clock::now();
    BOOST_REQUIRE(!n->dispatch(key, "p"));
    BOOST_TEST((std::chrono::steady_clock::now() - t1 < 2s), key);
  }
  // Every job runs on exactly one of the remaining workers (moved ones
  // included, within a bounded wait).
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto settled = [&] {
    for (auto& kv : log->snapshot())
      if (std::find(ids.begin(), ids.end(), kv.second) == ids.end())
        return false;
    return log->snapshot().size() == 1 + 3 * 20 + 20;
  };
  while (!settled() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  BOOST_TEST(settled(), log->snapshot().size() << " jobs running");
  BOOST_TEST(log->overlaps.empty(), joined(log->overlaps));
}

BOOST_AUTO_TEST_CASE(a_burst_of_workers_added_while_the_intake_blocks) {
  // 1,000 workers added one after the other while the intake blocks (10 s):
  // their wants share re-arms (at most one `BLMPOP` per add, paced by the
  // key count), the node's membership refreshes are throttled by their
  // cost, and jobs for the new workers start at once, not after the block
  // duration.
  auto o = fast_options();
  o.worker_ttl = 10s; // keep-alives of 1,000 workers stay rare
  o.job_sink_block_duration = 10s;
  o.ack_grace_period = 5s;
  auto n = node(o);
  worker(*n);
  BOOST_REQUIRE(!n->dispatch("warm", "p"));
  auto calls0 = intake_blmpop_calls(redis());
  constexpr size_t burst = 1000;
  for (size_t i = 0; i < burst; ++i)
    worker(*n);
  auto calls = intake_blmpop_calls(redis()) - calls0;
  BOOST_TEST(calls <= burst, calls << " BLMPOP calls for " << burst
                                   << " added workers");
  std::set<std::string> owners;
  for (int i = 0; i < 50; ++i) {
    auto key = "burst-" + std::to_string(i);
    dispatch_within_2s(*n, key);
    owners.insert(log->owner(key));
  }
  // 50 keys over 1,001 workers: almost all on distinct (mostly new) ones.
  BOOST_TEST(owners.size() > 40u, owners.size() << " owners");
  BOOST_TEST(log->overlaps.empty(), joined(log->overlaps));
}

BOOST_AUTO_TEST_CASE(confirms_of_many_workers_share_script_calls) {
  // 2,000 jobs in flight over 200 workers: each worker confirms batches of
  // a few starts, and the node's confirmer sends the confirms that arrive
  // together as one `confirm_many` call. Every start (and one failed
  // start) is settled as if confirmed alone, in far fewer script calls
  // than worker batches.
  auto o = fast_options();
  o.worker_ttl = 10s;
  o.ack_grace_period = 5s;
  o.job_sink_block_duration = 1s;
  o.max_queued_jobs = 0; // no admission limit
  auto n = node(o);
  auto h = std::make_shared<recorder>(log);
  h->fail_keys.insert("c-bad");
  constexpr size_t workers = 200;
  constexpr size_t jobs = 2000;
  for (size_t i = 0; i < workers; ++i)
    worker(*n, h);
  auto calls0 = intake_calls(redis(), "evalsha");
  std::mutex mtx;
  std::map<errc, size_t> results;
  size_t done = 0;
  auto record = [&](caf::error err) {
    std::lock_guard<std::mutex> guard{mtx};
    ++results[code_of(err)];
    ++done;
  };
  n->dispatch_async("c-bad", "x", record);
  for (size_t i = 0; i < jobs; ++i)
    n->dispatch_async("c" + std::to_string(i), "x", record);
  BOOST_TEST(wait_until(
    [&] {
      std::lock_guard<std::mutex> guard{mtx};
      return done == jobs + 1;
    },
    20s));
  auto calls = intake_calls(redis(), "evalsha") - calls0;
  {
    std::lock_guard<std::mutex> guard{mtx};
    BOOST_TEST(results[errc::none] == jobs);
    BOOST_TEST(results[errc::handler_failed] == 1u);
  }
  BOOST_TEST(log->count('s') == jobs);
  for (size_t i = 0; i < jobs; i += 97) {
    auto key = "c" + std::to_string(i);
    BOOST_TEST(log->count('s', key) == 1u, key);
  }
  // Confirmed in Redis: every record says running (`r`), the failed job's
  // is gone.
  auto recs = redis()("HGETALL", pool_scripts::pool_prefix("p") + "jobs");
  BOOST_REQUIRE_MESSAGE(recs, describe(recs));
  size_t running = 0;
  for (size_t i = 1; i < recs->elements.size(); i += 2)
    running += recs->elements[i].str.find("|r|") != std::string::npos ? 1 : 0;
  BOOST_TEST(running == jobs);
  BOOST_TEST(recs->elements.size() == 2 * jobs);
  // Script calls in all (dispatch batches, confirms, drains, keep-alives):
  // one `confirm` per worker batch alone would exceed this.
  BOOST_TEST(calls < jobs / 4, calls << " script calls for " << jobs
                                     << " jobs");
  BOOST_TEST(log->overlaps.empty(), joined(log->overlaps));
}

BOOST_AUTO_TEST_SUITE_END()
