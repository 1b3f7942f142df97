// The `pulse` tool against a Redis Cluster (3 masters + 3 replicas,
// tests/support/cluster_fixture.hpp): `streams`, `maps`, `pools` and
// `stats` list the keys of every master (SCAN on each), and `dead-letters
// redrive` moves entries to a source stream on another master.

#include <boost/test/unit_test.hpp>

#include <map>
#include <set>

#include <caf/all.hpp>

#include <nlohmann/json.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_router.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/runtime/config.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_gateway.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/tools/cli_runner.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

// The cluster, a cluster router and a client that writes the data (not in
// the anonymous namespace: the suite's cases derive from it).
struct cli_cluster : cluster_gateway_fixture {
  // For each master i, a name `<base><n>` whose key `<head><name><tail>`
  // master i owns (asked from the cluster).
  std::vector<std::string> names_on_each_master(const std::string& head,
                                                const std::string& base,
                                                const std::string& tail) {
    std::vector<std::string> out(3);
    for (int n = 0; out[0].empty() || out[1].empty() || out[2].empty(); ++n) {
      auto name = base + std::to_string(n);
      auto port = owner_port(cluster::key_slot(head + name + tail),
                             master_port(0));
      for (size_t i = 0; i < 3; ++i)
        if (port == master_port(i) && out[i].empty())
          out[i] = name;
    }
    return out;
  }

  // Runs `pulse --json <cluster endpoint> args...`; requires rc 0.
  nlohmann::json cli_json(std::vector<std::string> args) {
    std::vector<std::string> all{"--json", "--pulse.redis.host=127.0.0.1",
                                 "--pulse.redis.port="
                                   + std::to_string(master_port(0)),
                                 "--pulse.redis.cluster"};
    all.insert(all.end(), args.begin(), args.end());
    auto r = run_cli(all);
    BOOST_REQUIRE_MESSAGE(r.rc == 0, "rc " << r.rc << ": " << r.err);
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception&) {
      BOOST_FAIL("not JSON: " << r.out);
    }
    return {};
  }

  void must(std::vector<std::string> args) {
    command cmd;
    cmd.args = std::move(args);
    auto r = c->call(std::move(cmd));
    BOOST_REQUIRE_MESSAGE(r, describe(r));
  }
};

namespace {

// The `name` fields of a JSON array, as a set.
std::set<std::string> names_of(const nlohmann::json& xs) {
  std::set<std::string> out;
  for (auto& x : xs)
    out.insert(x["name"].get<std::string>());
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(cli_cluster_listings, cli_cluster)

BOOST_AUTO_TEST_CASE(listings_show_the_keys_of_every_master) {
  auto streams = names_on_each_master("pulse:stream:", "orders-", "");
  auto maps = names_on_each_master("map:", "flags-", ":content");
  auto pools = names_on_each_master("pulse:pool:{", "jobs-", "}:workers");
  for (auto& s : streams)
    must({"XADD", "pulse:stream:" + s, "*", "n", "created", "p", "1"});
  for (auto& m : maps)
    must({"HSET", "map:" + m + ":content", "a", "1", "=rev", "1", "=kind",
          "set"});
  for (auto& p : pools)
    must({"HSET", "pulse:pool:{" + p + "}:workers", "w1", "1|n1"});
  auto want = [](const std::vector<std::string>& xs) {
    return std::set<std::string>(xs.begin(), xs.end());
  };
  BOOST_TEST((names_of(cli_json({"streams"})) == want(streams)));
  BOOST_TEST((names_of(cli_json({"maps"})) == want(maps)));
  auto ps = cli_json({"pools"});
  BOOST_TEST((names_of(ps) == want(pools)));
  for (auto& p : ps)
    BOOST_TEST(p["workers"] == 1);
  auto st = cli_json({"stats"});
  BOOST_TEST(st["streams"]["streams"] == 3);
  BOOST_TEST(st["streams"]["entries"] == 3);
  BOOST_TEST(st["maps"]["maps"] == 3);
  BOOST_TEST(st["pools"]["pools"] == 3);
  BOOST_TEST(st["pools"]["workers"] == 3);
  // INFO of every master: each one's figures and the sums.
  auto& rd = st["redis"];
  BOOST_REQUIRE(rd["masters"].size() == 3u);
  std::set<std::string> endpoints;
  int64_t keys = 0;
  for (auto& m : rd["masters"]) {
    endpoints.insert(m["endpoint"].get<std::string>());
    keys += m["keys"].get<int64_t>();
    BOOST_TEST(m["clients"].get<int64_t>() >= 1);
  }
  BOOST_TEST((endpoints
              == std::set<std::string>{
                "127.0.0.1:" + std::to_string(master_port(0)),
                "127.0.0.1:" + std::to_string(master_port(1)),
                "127.0.0.1:" + std::to_string(master_port(2))}));
  BOOST_TEST(rd["keys"].get<int64_t>() == keys);
  BOOST_TEST(keys >= 9);
  auto plain = run_cli({"--pulse.redis.host=127.0.0.1",
                        "--pulse.redis.port=" + std::to_string(master_port(0)),
                        "--pulse.redis.cluster", "stats"});
  BOOST_REQUIRE_MESSAGE(plain.rc == 0, plain.err);
  auto& table = plain.out;
  BOOST_TEST_MESSAGE("pulse stats in cluster mode:\n" << table);
  BOOST_TEST(table.find("masters") != std::string::npos, table);
  BOOST_TEST(table.find("127.0.0.1:" + std::to_string(master_port(2)))
               != std::string::npos,
             table);
}

BOOST_AUTO_TEST_CASE(dead_letters_redrive_to_another_master) {
  // A source stream on another master than its dead-letter stream.
  std::string src;
  for (int n = 0; src.empty(); ++n) {
    auto s = "pay-" + std::to_string(n);
    if (owner_port(cluster::key_slot("pulse:stream:" + s), master_port(0))
        != owner_port(cluster::key_slot("pulse:stream:" + s + ":dead-letter"),
                      master_port(0)))
      src = s;
  }
  auto dlq = "pulse:stream:" + src + ":dead-letter";
  for (auto p : {"1", "2", "3"})
    must({"XADD", dlq, "*", "n", "created", "p", p, "stream", src, "sink",
          "billing", "deliveries", "3", "error", "boom"});
  auto r = cli_json({"dead-letters", "redrive", src, "--all"});
  BOOST_TEST(r["moved"] == 3);
  BOOST_TEST(r["missing"] == 0);
  auto len = c->call(make_command("XLEN", "pulse:stream:" + src));
  BOOST_REQUIRE_MESSAGE(len, describe(len));
  BOOST_TEST(len->integer == 3);
  len = c->call(make_command("XLEN", dlq));
  BOOST_REQUIRE_MESSAGE(len, describe(len));
  BOOST_TEST(len->integer == 0);
}

BOOST_AUTO_TEST_SUITE_END()
