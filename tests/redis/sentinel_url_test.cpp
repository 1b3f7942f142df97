// The `redis+sentinel://` URL against real processes: one master, one
// replica and three sentinels on loopback (tests/support/sentinel_fixture.hpp).
// A runtime configured by nothing but the URL finds the master through the
// sentinels and follows a `SENTINEL FAILOVER`.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/connect.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/support/sentinel_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// `redis+sentinel://127.0.0.1:<p1>,127.0.0.1:<p2>,.../<name>/<db>`, with a
/// dead sentinel first when `dead_first` is set.
std::string url_naming(const sentinel_fixture& fx, int db,
                         bool dead_first) {
  std::string hosts;
  if (dead_first)
    hosts = "127.0.0.1:" + std::to_string(free_loopback_port());
  for (auto& s : fx.sentinels) {
    if (!hosts.empty())
      hosts += ',';
    hosts += "127.0.0.1:" + std::to_string(s->port());
  }
  return "redis+sentinel://" + hosts + "/" + fx.name + "/" + std::to_string(db);
}

/// The port the connection behind `c` talks to (`CONFIG GET port`), 0 when
/// the request fails.
uint16_t served_by(client& c) {
  auto port = c("CONFIG", "GET", "port");
  if (!port || port->elements.size() != 2)
    return 0;
  return static_cast<uint16_t>(std::stoi(port->elements[1].str));
}

} // namespace

BOOST_AUTO_TEST_SUITE(sentinel_url)

BOOST_AUTO_TEST_CASE(a_sentinel_url_finds_the_master_and_follows_a_failover) {
  sentinel_fixture fx;
  pulse::config cfg;
  auto err = cfg.read({"--pulse.redis.url=" + url_naming(fx, 3, true),
                       "--pulse.log.level=warn",
                       "--scheduler.max-threads=2"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto opts = cfg.opts();
  BOOST_TEST(opts.redis.sentinels.size() == 4u);
  BOOST_TEST(opts.redis.master_name == fx.name);
  BOOST_TEST(opts.redis.db == 3);
  BOOST_TEST(!opts.redis.use_embedded());
  // One connection: the sentinels name the master (the dead one is skipped).
  auto s = connect_redis(opts.redis);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  BOOST_TEST(s->endpoint == "127.0.0.1:" + std::to_string(fx.master->port()));
  // A runtime on the URL writes to the master, in database 3.
  caf::actor_system sys{cfg};
  auto rt = runtime::start(sys, opts);
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  std::optional<client> c;
  c.emplace(sys, (*rt)->gateway(), std::chrono::seconds{5});
  BOOST_REQUIRE((*c)("SET", "url-k", "1"));
  auto v = command_on(fx.master->port(), {"GET", "url-k"});
  BOOST_REQUIRE_MESSAGE(v, describe(v));
  BOOST_TEST(v->is_nil()); // not in database 0
  auto in3 = (*c)("GET", "url-k");
  BOOST_REQUIRE_MESSAGE(in3, describe(in3));
  BOOST_TEST(in3->str == "1");
  BOOST_TEST(served_by(*c) == fx.master->port());
  // A failover: the runtime's connection moves to the promoted replica and
  // writes go on there, in the same database.
  auto old_master = fx.master->port();
  BOOST_REQUIRE_MESSAGE(fx.wait_ready(), "sentinels not ready for failover");
  auto reply = fx.failover();
  BOOST_REQUIRE_MESSAGE(reply == "OK", "SENTINEL FAILOVER: " << reply);
  // A failover attempt that fails under load (no replica was fit at that
  // moment) is retried after twice the fixture's failover-timeout (5 s).
  BOOST_REQUIRE_MESSAGE(
    wait_until([&] { return fx.master_port() != old_master; }, 25s),
    "the sentinels named no new master within 25 s");
  auto new_master = fx.master_port();
  BOOST_TEST(fx.is_replica_port(new_master));
  bool moved = wait_until([&] { return served_by(*c) == new_master; }, 20s);
  BOOST_REQUIRE_MESSAGE(moved, "the gateway did not move to the new master");
  BOOST_REQUIRE(wait_until([&] { return static_cast<bool>(
                                   (*c)("SET", "url-k", "2")); }, 10s));
  auto in3_after = (*c)("GET", "url-k");
  BOOST_REQUIRE_MESSAGE(in3_after, describe(in3_after));
  BOOST_TEST(in3_after->str == "2");
  BOOST_TEST(served_by(*c) == new_master);
  c.reset();
  rt->reset();
}

BOOST_AUTO_TEST_SUITE_END()
