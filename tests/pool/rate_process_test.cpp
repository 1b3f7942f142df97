// The rate limit with real processes: three worker processes (three full
// nodes) each dispatch jobs and delayed jobs at once under one pool-wide
// limit; the grants Redis logged never number more than the limit in any
// window, the workers' starts agree up to delivery jitter, and every job
// runs once.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

#include "tests/pool/process_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// Smallest gap between a time in `xs` (sorted) and the one `n` places
/// later: under a limit of n per period it is at least the period.
double tightest(const std::vector<double>& xs, size_t n) {
  double least = 1e18;
  for (size_t i = n; i < xs.size(); ++i)
    least = std::min(least, xs[i] - xs[i - n]);
  return least;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_rate_processes, process_fixture)

BOOST_AUTO_TEST_CASE(the_rate_limit_holds_in_every_window_across_three_nodes) {
  constexpr size_t limit = 20;
  constexpr double period_ms = 400;
  ::setenv("PULSE_TEST_RATE", "20,400", 1);
  // All three dispatch once all three joined (no job moves on a join).
  auto go = dir + "/go";
  ::setenv("PULSE_TEST_GO", go.c_str(), 1);
  std::set<std::string> keys;
  for (int p = 0; p < 3; ++p) {
    auto prefix = "n" + std::to_string(p);
    ::setenv("PULSE_TEST_DISPATCH", (prefix + ",40,5").c_str(), 1);
    spawn(2);
    for (int i = 0; i < 40; ++i)
      keys.insert(prefix + "k" + std::to_string(i));
    for (int i = 0; i < 5; ++i)
      keys.insert(prefix + "d" + std::to_string(i));
  }
  ::unsetenv("PULSE_TEST_RATE");
  ::unsetenv("PULSE_TEST_DISPATCH");
  ::unsetenv("PULSE_TEST_GO");
  auto fd = ::open(go.c_str(), O_WRONLY | O_CREAT, 0644);
  BOOST_REQUIRE(fd >= 0);
  ::close(fd);
  // Redis' log of grants (a sorted set trimmed one period behind): read
  // often enough, its union is every grant made.
  std::map<std::string, double> grants;
  auto snapshot = [&] {
    auto r = redis()("ZRANGE", "pulse:pool:{pp}:rate", "0", "-1",
                     "WITHSCORES");
    if (r && r->is_array())
      for (size_t i = 0; i + 1 < r->elements.size(); i += 2)
        grants[r->elements[i].str] = std::atof(r->elements[i + 1].str.c_str());
  };
  // 135 jobs at 20 per 400 ms take at least 2.4 s.
  BOOST_TEST(wait_until(
               [&] {
                 snapshot();
                 return running() == keys;
               },
               30s),
             running().size() << " of " << keys.size() << " running");
  snapshot();
  // One grant per job, never limit + 1 of them within a period.
  BOOST_TEST(grants.size() == keys.size());
  std::vector<double> at;
  for (auto& g : grants)
    at.push_back(g.second);
  std::sort(at.begin(), at.end());
  BOOST_TEST(tightest(at, limit) >= period_ms);
  BOOST_TEST(at.back() - at.front() >= 6 * period_ms);
  // The workers' starts: the same up to the delivery of each start (the
  // grant is made in Redis, the handler starts when its worker reads it).
  std::vector<double> starts;
  for (auto& [key, xs] : intervals()) {
    BOOST_TEST(xs.size() == 1u, key << " ran " << xs.size() << " times");
    for (auto& x : xs)
      starts.push_back(static_cast<double>(x.start) / 1e6);
  }
  std::sort(starts.begin(), starts.end());
  BOOST_TEST(tightest(starts, limit) >= period_ms - 100);
  BOOST_TEST(overlaps().empty());
  ::unlink(go.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
