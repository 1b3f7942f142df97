// Retries with real processes: jobs dispatched with max_attempts run on two
// worker processes; one is SIGKILLed mid-job. Each job it was running is
// retried on the other process once the dead worker's lease ended, with
// its attempt counted (attempt 2, and "worker ... lost" in its history);
// the others keep attempt 1; no key runs on two workers at once.

#include <boost/test/unit_test.hpp>

#include "tests/pool/process_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// Highest attempt each key started with, from every journal.
std::map<std::string, int> last_attempts(process_fixture& f) {
  std::map<std::string, int> out;
  for (auto& c : f.children) {
    std::ifstream in{c.journal};
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls{line};
      char kind = 0;
      int64_t t = 0;
      std::string worker, key;
      int attempt = 0;
      ls >> kind >> t >> worker >> key >> attempt;
      if (kind == 's' && ls)
        out[key] = std::max(out[key], attempt);
    }
  }
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_retry_processes, process_fixture)

BOOST_AUTO_TEST_CASE(a_job_on_a_killed_worker_is_retried_and_counted) {
  // A lease a starved machine does not outlast by accident: only the
  // killed process may lose its jobs (and count an attempt).
  ttl = 1500;
  auto victim = spawn(2);
  spawn(2);
  auto d = dispatcher();
  dispatch_options o;
  o.max_attempts = 3;
  std::set<std::string> keys;
  for (int i = 0; i < 40; ++i) {
    auto k = "job-" + std::to_string(i);
    keys.insert(k);
    auto err = d->dispatch(k, "x", o);
    BOOST_REQUIRE_MESSAGE(!err, render(err));
  }
  BOOST_REQUIRE(wait_until([&] { return running().size() == keys.size(); },
                           10s));
  // Every start confirmed (state `r` in each record): the kill below hits
  // running jobs.
  BOOST_REQUIRE(wait_until([&] {
    auto recs = redis()("HVALS", "pulse:pool:{pp}:jobs");
    if (!recs || recs->elements.size() != keys.size())
      return false;
    for (auto& r : recs->elements)
      if (r.str.find("|r|") == std::string::npos)
        return false;
    return true;
  }, 10s));
  std::set<std::string> on_victim;
  for (auto& k : keys)
    if (runner(k) == static_cast<int>(victim))
      on_victim.insert(k);
  BOOST_REQUIRE(!on_victim.empty());
  sigkill(children[victim]);
  // Lease (1.5 s) + cleaner + backoff (200 ms, jitter) + promote.
  BOOST_REQUIRE_MESSAGE(wait_until([&] {
    return running().size() == keys.size();
  }, 15s), "running " << running().size() << " of " << keys.size());
  auto attempts = last_attempts(*this);
  for (auto& k : keys) {
    auto expected = on_victim.count(k) ? 2 : 1;
    BOOST_TEST(attempts[k] == expected, k << " attempt " << attempts[k]);
  }
  BOOST_TEST(overlaps().empty(), joined(overlaps()));
  // The lost attempt is in the job's retry state.
  auto k = *on_victim.begin();
  auto st = redis()("HGET", "pulse:pool:{pp}:tries", k);
  BOOST_REQUIRE_MESSAGE(st, describe(st));
  BOOST_TEST(st->str.rfind("1|3||", 0) == 0u, st->str);
  BOOST_TEST(st->str.find("lost while running") != std::string::npos,
             st->str);
  // Jobs stopped now leave no retry state behind.
  for (auto& key : keys)
    BOOST_REQUIRE(!d->stop_job(key));
  auto left = redis()("HLEN", "pulse:pool:{pp}:tries");
  BOOST_REQUIRE_MESSAGE(left, describe(left));
  BOOST_TEST(left->integer == 0);
}

BOOST_AUTO_TEST_SUITE_END()
