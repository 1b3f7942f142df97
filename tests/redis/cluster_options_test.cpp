// Redis Cluster options and the parsing of its replies, without a server:
// option checks (file and command line), `MOVED`/`ASK` redirects and
// `CLUSTER SLOTS` replies.

#include <boost/test/unit_test.hpp>

#include <string>

#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;

BOOST_AUTO_TEST_SUITE(redis_cluster)

BOOST_AUTO_TEST_CASE(options_are_checked) {
  redis_options r;
  r.cluster = true;
  r.host = "127.0.0.1";
  BOOST_TEST(!detail::check_cluster_options(r));
  r.db = 1;
  BOOST_TEST(code_of(detail::check_cluster_options(r))
             == errc::invalid_config);
  r.db = 0;
  r.cluster_nodes = {"127.0.0.1"};
  BOOST_TEST(render(detail::check_cluster_options(r)).find("has no port")
             != std::string::npos);
  r.cluster_nodes = {"10.0.0.2:7001"};
  auto s = cluster::seeds(r);
  BOOST_REQUIRE(s);
  BOOST_TEST(s->size() == 2u);
  BOOST_TEST((*s)[1].text() == "10.0.0.2:7001");
  r.sentinels = {"127.0.0.1:26379"};
  BOOST_TEST(code_of(detail::check_cluster_options(r))
             == errc::invalid_config);
  redis_options plain;
  plain.cluster_nodes = {"127.0.0.1:7000"};
  BOOST_TEST(code_of(detail::check_cluster_options(plain))
             == errc::invalid_config);
  pulse::config cli;
  auto err = cli.read({"--pulse.redis.cluster",
                       "--pulse.redis.cluster-nodes=127.0.0.1:7001,h:7002"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(cli.opts().redis.cluster);
  BOOST_TEST(cli.opts().redis.cluster_nodes.size() == 2u);
  BOOST_TEST(!cli.opts().redis.use_embedded());
  pulse::config bad;
  err = bad.read({"--pulse.redis.cluster",
                  "--pulse.redis.cluster-nodes=127.0.0.1"});
  BOOST_TEST(code_of(err) == errc::invalid_config);
  BOOST_TEST(render(err).find("pulse.redis.cluster-nodes") != std::string::npos,
             render(err));
}

BOOST_AUTO_TEST_CASE(redirect_and_slots_replies_parse) {
  auto m = cluster::parse_redirect("MOVED 12182 127.0.0.1:7432", "h");
  BOOST_REQUIRE(m);
  BOOST_TEST(!m->ask);
  BOOST_TEST(m->slot == 12182);
  BOOST_TEST(m->addr == "127.0.0.1:7432");
  auto a = cluster::parse_redirect("ASK 3999 :6381", "10.0.0.1");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->ask);
  BOOST_TEST(a->addr == "10.0.0.1:6381");
  BOOST_TEST(!cluster::parse_redirect("ERR boom", "h"));
  BOOST_TEST(!cluster::parse_redirect("MOVED x 1.2.3.4:5", "h"));
  using v = resp::value;
  auto node = [](std::string host, int64_t port) {
    v n;
    n.type = resp::kind::array;
    n.elements = {v::make_bulk(std::move(host)), v::make_integer(port),
                  v::make_bulk("id")};
    return n;
  };
  auto range = [&](int64_t lo, int64_t hi, int64_t port) {
    v r;
    r.type = resp::kind::array;
    r.elements = {v::make_integer(lo), v::make_integer(hi),
                  node("127.0.0.1", port), node("127.0.0.1", port + 3)};
    return r;
  };
  v reply;
  reply.type = resp::kind::array;
  reply.elements = {range(0, 5460, 7000), range(5461, 10922, 7001),
                    range(10923, 16383, 7002)};
  auto t = cluster::parse_slots(reply, "127.0.0.1");
  BOOST_REQUIRE_MESSAGE(t, describe(t));
  BOOST_TEST(t->masters.size() == 3u);
  BOOST_TEST(t->covered() == 16384u);
  BOOST_TEST(t->masters[static_cast<size_t>(t->owner[12182])]
             == "127.0.0.1:7002");
  BOOST_TEST(!cluster::parse_slots(v::make_error("ERR no cluster"), "h"));
}

BOOST_AUTO_TEST_SUITE_END()
