// Listings over every master: `(each_master_atom, command)` and
// `(scan_keys_atom, scan_query)` on a cluster router (3 masters + 3
// replicas, tests/support/cluster_fixture.hpp) and on an ordinary gateway,
// through `client::each_master` and `client::scan`.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_router.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/dashboard.hpp"
#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_gateway.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/support/sentinel_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

// `SCAN` keys matching `pattern` with at most `rounds` rounds of `count`.
scan_query listing_query(std::string pattern, std::string type = {},
                         uint32_t count = 1000, uint32_t rounds = 0) {
  scan_query q;
  q.pattern = std::move(pattern);
  q.type = std::move(type);
  q.count = count;
  q.max_rounds = rounds;
  return q;
}

// Writes `n` string keys `<prefix><i>` and returns them sorted.
std::vector<std::string> listing_write(client& c, const std::string& prefix,
                                       int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) {
    keys.push_back(prefix + std::to_string(i));
    auto r = c("SET", keys.back(), "v");
    BOOST_REQUIRE_MESSAGE(r, describe(r));
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_cluster_listing)

BOOST_FIXTURE_TEST_CASE(scan_keys_lists_the_keys_of_every_master,
                        cluster_fixture) {
  gateway_system ls{redis_opts()};
  auto& c = *ls.c;
  auto keys = listing_write(c, "lst:", 30);
  // The keys are on all three masters (asked from the cluster itself).
  std::map<uint16_t, int> per_owner;
  for (auto& k : keys)
    ++per_owner[owner_port(cluster::key_slot(k), master_port(0))];
  BOOST_REQUIRE_EQUAL(per_owner.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(per_owner[master_port(i)] > 0);
  // A stream on each master, for the TYPE filter.
  std::vector<std::string> streams;
  for (size_t i = 0; i < 3; ++i) {
    streams.push_back(cluster_fixture::key_on(i, "lst:s"));
    auto r = c("XADD", streams.back(), "*", "f", "v");
    BOOST_REQUIRE_MESSAGE(r, describe(r));
  }
  std::sort(streams.begin(), streams.end());
  // A plain SCAN sees one master only.
  auto one = c("SCAN", "0", "MATCH", "lst:*", "COUNT", "1000");
  BOOST_REQUIRE_MESSAGE(one, describe(one));
  BOOST_TEST(one->elements[1].elements.size() < keys.size());
  // scan_keys walks all three.
  auto all = c.scan(listing_query("lst:*", "string"));
  BOOST_REQUIRE_MESSAGE(all, describe(all));
  BOOST_TEST(all->complete);
  BOOST_TEST(all->keys == keys);
  auto st = c.scan(listing_query("lst:*", "stream"));
  BOOST_REQUIRE_MESSAGE(st, describe(st));
  BOOST_TEST(st->keys == streams);
  // Small rounds: every cursor walked to its end.
  auto small = c.scan(listing_query("lst:*", "string", 2));
  BOOST_REQUIRE_MESSAGE(small, describe(small));
  BOOST_TEST(small->complete);
  BOOST_TEST(small->keys == keys);
  auto none = c.scan(listing_query("nothing:*"));
  BOOST_REQUIRE_MESSAGE(none, describe(none));
  BOOST_TEST(none->keys.empty());
  BOOST_TEST(none->complete);
}

BOOST_FIXTURE_TEST_CASE(scan_keys_stops_after_max_rounds, cluster_fixture) {
  gateway_system ls{redis_opts()};
  auto& c = *ls.c;
  auto keys = listing_write(c, "lim:", 90);
  auto part = c.scan(listing_query("lim:*", {}, 1, 1));
  BOOST_REQUIRE_MESSAGE(part, describe(part));
  BOOST_TEST(!part->complete);
  BOOST_TEST(part->keys.size() < keys.size());
  auto bad = c.scan(listing_query("lim:*", "no-such-type"));
  // Redis 7 answers an unknown TYPE with an empty listing or an error;
  // either way no key of another type.
  if (bad)
    BOOST_TEST(bad->keys.empty());
}

BOOST_FIXTURE_TEST_CASE(each_master_runs_a_command_on_every_master,
                        cluster_fixture) {
  gateway_system ls{redis_opts()};
  auto& c = *ls.c;
  auto keys = listing_write(c, "each:", 30);
  auto pongs = c.each_master(make_command("PING"));
  BOOST_REQUIRE_MESSAGE(pongs, describe(pongs));
  BOOST_REQUIRE_EQUAL(pongs->size(), 3u);
  for (auto& p : *pongs)
    BOOST_TEST(p.str == "PONG");
  auto sizes = c.each_master(make_command("DBSIZE"));
  BOOST_REQUIRE_MESSAGE(sizes, describe(sizes));
  BOOST_REQUIRE_EQUAL(sizes->size(), 3u);
  int64_t total = 0;
  for (auto& s : *sizes) {
    BOOST_TEST(s.integer > 0);
    total += s.integer;
  }
  BOOST_TEST(total == static_cast<int64_t>(keys.size()));
  // Each master's own ID: three different nodes answered.
  auto ids = c.each_master(make_command("CLUSTER", "MYID"));
  BOOST_REQUIRE_MESSAGE(ids, describe(ids));
  std::set<std::string> distinct;
  for (auto& x : *ids)
    distinct.insert(x.str);
  std::set<std::string> masters;
  for (size_t i = 0; i < 3; ++i)
    masters.insert(node_id(master_port(i)));
  BOOST_TEST((distinct == masters));
  // Redis error replies stay in the vector.
  auto errs = c.each_master(make_command("NO-SUCH-COMMAND"));
  BOOST_REQUIRE_MESSAGE(errs, describe(errs));
  BOOST_REQUIRE_EQUAL(errs->size(), 3u);
  for (auto& e : *errs)
    BOOST_TEST(e.is_error());
}

BOOST_FIXTURE_TEST_CASE(listings_work_the_same_on_a_single_node,
                        redis_fixture) {
  gateway_system ls{redis_opts()};
  auto& c = *ls.c;
  auto keys = listing_write(c, "one:", 40);
  auto r = c("XADD", "one:stream", "*", "f", "v");
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  auto all = c.scan(listing_query("one:*", "string", 3));
  BOOST_REQUIRE_MESSAGE(all, describe(all));
  BOOST_TEST(all->complete);
  BOOST_TEST(all->keys == keys);
  auto st = c.scan(listing_query("one:*", "stream"));
  BOOST_REQUIRE_MESSAGE(st, describe(st));
  BOOST_TEST(st->keys == std::vector<std::string>{"one:stream"});
  auto part = c.scan(listing_query("one:*", {}, 1, 1));
  BOOST_REQUIRE_MESSAGE(part, describe(part));
  BOOST_TEST(!part->complete);
  BOOST_TEST(part->keys.size() < keys.size());
  auto sizes = c.each_master(make_command("DBSIZE"));
  BOOST_REQUIRE_MESSAGE(sizes, describe(sizes));
  BOOST_REQUIRE_EQUAL(sizes->size(), 1u);
  BOOST_TEST((*sizes)[0].integer == static_cast<int64_t>(keys.size() + 1));
  auto errs = c.each_master(make_command("NO-SUCH-COMMAND"));
  BOOST_REQUIRE_MESSAGE(errs, describe(errs));
  BOOST_REQUIRE_EQUAL(errs->size(), 1u);
  BOOST_TEST((*errs)[0].is_error());
  // The gateway still takes ordinary requests afterwards, in order.
  auto g = c("GET", keys.front());
  BOOST_REQUIRE_MESSAGE(g, describe(g));
  BOOST_TEST(g->str == "v");
}

BOOST_FIXTURE_TEST_CASE(the_dashboard_counts_results_on_any_master,
                        cluster_fixture) {
  // A pool whose slot is not on the table's first master (where a plain
  // SCAN goes), with 25 kept results.
  std::string pool;
  for (int n = 0; pool.empty(); ++n) {
    auto p = "dash-" + std::to_string(n);
    if (owner_port(cluster::key_slot(p), master_port(0)) != master_port(0))
      pool = p;
  }
  pulse::config cfg;
  cfg.set("scheduler.max-threads", 2);
  std::optional<caf::actor_system> sys{std::in_place, cfg};
  options o;
  o.redis = redis_opts();
  o.log_level = "warn";
  auto rt = runtime::start(*sys, o);
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  {
    client c{*sys, (*rt)->gateway(), std::chrono::seconds{10}};
    for (int i = 0; i < 25; ++i) {
      auto r = c("SET", "pulse:pool:{" + pool + "}:result:k" + std::to_string(i),
                 "x");
      BOOST_REQUIRE_MESSAGE(r, describe(r));
    }
  }
  metrics_snapshot snap;
  pool_stats ps;
  ps.pool = pool;
  snap.pools.push_back(ps);
  auto json = dashboard_pools(**rt, snap, std::chrono::seconds{10});
  BOOST_TEST(json.find("\"results\":25,\"results_complete\":true")
               != std::string::npos,
             json);
  rt->reset();
  sys.reset();
}

BOOST_AUTO_TEST_SUITE_END()
