// Redis Cluster against real processes: 3 masters and 3 replicas on
// loopback (tests/support/cluster_fixture.hpp). Slot routing to all three
// masters, scripts, batches split over nodes, MOVED after a slot moved by
// hand, ASK during a hand-made migration (both counted, also in the
// metrics), blocking reads on the key's owner, and the stream, map and
// pool scenarios through a runtime in cluster mode. Options and reply
// parsing: cluster_options_test.cpp; writes during a slot migration and a
// failover: cluster_writes_test.cpp.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/pool/handler.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_router.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_gateway.hpp"
#include "tests/support/cluster_runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/support/sentinel_fixture.hpp"
#include "tests/support/traffic.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

// The value of `series` (name and labels) in a Prometheus exposition, or
// "<absent>".
std::string cluster_sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos)
    return "<absent>";
  auto start = at + series.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

// Half a migration of `key`'s slot: `to` imports it, `from` migrates it,
// and `key` moves to `to` (`MIGRATE`), while the slot still belongs to
// `from`, so `from` answers `ASK` for the key.
void half_migrate(const cluster_fixture& f, const std::string& key,
                  uint16_t from, uint16_t to) {
  auto s = std::to_string(cluster::key_slot(key));
  auto r1 = command_on(to, {"CLUSTER", "SETSLOT", s, "IMPORTING",
                            f.node_id(from)});
  BOOST_REQUIRE(r1 && !r1->is_error());
  auto r2 = command_on(from, {"CLUSTER", "SETSLOT", s, "MIGRATING",
                              f.node_id(to)});
  BOOST_REQUIRE(r2 && !r2->is_error());
  auto r3 = command_on(from, {"MIGRATE", "127.0.0.1", std::to_string(to), "",
                              "0", "5000", "KEYS", key});
  BOOST_REQUIRE_MESSAGE(r3 && !r3->is_error(), describe(r3));
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_cluster)

BOOST_FIXTURE_TEST_CASE(commands_reach_the_owner_of_each_slot_range,
                        cluster_gateway_fixture) {
  for (size_t i = 0; i < 3; ++i) {
    auto key = key_on(i);
    auto set = (*c)("SET", key, "v" + std::to_string(i));
    BOOST_REQUIRE_MESSAGE(set, describe(set));
    // Stored on master i itself, read back through the router.
    BOOST_TEST(get_on(master_port(i), key) == "v" + std::to_string(i));
    auto got = (*c)("GET", key);
    BOOST_REQUIRE_MESSAGE(got, describe(got));
    BOOST_TEST(got->str == "v" + std::to_string(i));
  }
  // Keyless commands go to any master.
  auto pong = (*c)("PING");
  BOOST_REQUIRE_MESSAGE(pong, describe(pong));
  BOOST_TEST(pong->str == "PONG");
  // A batch over three nodes: replies in request order.
  std::vector<command> b;
  for (size_t i = 0; i < 3; ++i)
    b.push_back(make_command("GET", key_on(i)));
  b.push_back(make_command("INCR", key_on(1, "n")));
  auto rs = c->batch(b);
  BOOST_REQUIRE_MESSAGE(rs, describe(rs));
  BOOST_REQUIRE(rs->size() == 4u);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST((*rs)[i].str == "v" + std::to_string(i));
  BOOST_TEST((*rs)[3].integer == 1);
  // MULTI ... EXEC on one key stays on one node.
  auto tx = c->batch({make_command("MULTI"), make_command("SET", key_on(2), "t"),
                      make_command("GET", key_on(2)), make_command("EXEC")});
  BOOST_REQUIRE_MESSAGE(tx, describe(tx));
  BOOST_REQUIRE(tx->back().is_array());
  BOOST_TEST(tx->back().elements[1].str == "t");
  // Scripts run on the owner of their keys.
  script incr{"return redis.call('INCRBY', KEYS[1], ARGV[1])"};
  for (size_t i = 0; i < 3; ++i) {
    auto r = c->eval(incr, {key_on(i, "s")}, {"5"});
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    BOOST_TEST(r->integer == 5);
  }
  auto tagged = c->eval(script{"redis.call('SET', KEYS[1], 'a') "
                               "return redis.call('SET', KEYS[2], 'b')"},
                        {"{order7}a", "{order7}b"}, {});
  BOOST_REQUIRE_MESSAGE(tagged, describe(tagged));
  // Keys in two slots: a clear error naming the script and the keys, no
  // CROSSSLOT round trip.
  script two{"-- two_keys\nreturn redis.call('GET', KEYS[2])"};
  auto cross = c->eval(two, {"foo", "bar"}, {});
  BOOST_REQUIRE(!cross);
  BOOST_TEST(code_of(cross.error()) == errc::invalid_argument);
  auto text = render(cross.error());
  BOOST_TEST(text.find("-- two_keys") != std::string::npos, text);
  BOOST_TEST(text.find("foo (slot 12182)") != std::string::npos, text);
  BOOST_TEST(text.find("bar (slot 5061)") != std::string::npos, text);
  auto st = c->stats();
  BOOST_REQUIRE_MESSAGE(st, describe(st));
  BOOST_TEST(st->connected);
  BOOST_TEST(st->sent >= 10u);
}

BOOST_FIXTURE_TEST_CASE(moved_after_a_slot_moved_by_hand_is_followed,
                        cluster_gateway_fixture) {
  auto key = key_on(0, "moved");
  auto slot = cluster::key_slot(key);
  auto set = (*c)("SET", key, "before");
  BOOST_REQUIRE_MESSAGE(set, describe(set));
  auto st0 = c->stats();
  BOOST_REQUIRE_MESSAGE(st0, describe(st0));
  BOOST_TEST(st0->moved_redirects == 0u);
  // Move the slot from master 0 to master 2 (keys migrated with MIGRATE).
  auto moved = move_slot(slot, master_port(2));
  BOOST_REQUIRE_MESSAGE(moved.empty(), moved);
  BOOST_REQUIRE(wait_owner(slot, master_port(2)));
  BOOST_TEST(get_on(master_port(2), key) == "before");
  BOOST_TEST(get_on(master_port(0), key).find("<MOVED") == 0u);
  // The router still has the old table: it follows the MOVED.
  auto got = (*c)("GET", key);
  BOOST_REQUIRE_MESSAGE(got, describe(got));
  BOOST_TEST(got->str == "before");
  // Counted once; the table now names the new owner, so the next request
  // goes there directly.
  auto st1 = c->stats();
  BOOST_REQUIRE_MESSAGE(st1, describe(st1));
  BOOST_TEST(st1->moved_redirects == 1u);
  BOOST_TEST(st1->ask_redirects == 0u);
  auto again = (*c)("SET", key, "after");
  BOOST_REQUIRE_MESSAGE(again, describe(again));
  BOOST_TEST(get_on(master_port(2), key) == "after");
  auto st2 = c->stats();
  BOOST_REQUIRE_MESSAGE(st2, describe(st2));
  BOOST_TEST(st2->moved_redirects == 1u);
  // A script and a batch on the moved slot too.
  auto r = c->eval(script{"return redis.call('GET', KEYS[1])"}, {key}, {});
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->str == "after");
  auto rs = c->batch({make_command("GET", key), make_command("GET", key_on(1))});
  BOOST_REQUIRE_MESSAGE(rs, describe(rs));
  BOOST_TEST((*rs)[0].str == "after");
}

BOOST_FIXTURE_TEST_CASE(ask_during_a_migration_is_followed,
                        cluster_gateway_fixture) {
  auto key = key_on(1, "ask");
  auto slot = cluster::key_slot(key);
  BOOST_REQUIRE((*c)("SET", key, "x"));
  // Half a migration: the key moved, the slot still belongs to master 1.
  auto from = master_port(1);
  auto to = master_port(0);
  half_migrate(*this, key, from, to);
  BOOST_TEST(get_on(from, key).find("<ASK") == 0u);
  auto st0 = c->stats();
  BOOST_REQUIRE_MESSAGE(st0, describe(st0));
  BOOST_TEST(st0->ask_redirects == 0u);
  auto got = (*c)("GET", key);
  BOOST_REQUIRE_MESSAGE(got, describe(got));
  BOOST_TEST(got->str == "x");
  auto ev = c->eval(script{"return redis.call('GET', KEYS[1])"}, {key}, {});
  BOOST_REQUIRE_MESSAGE(ev, describe(ev));
  BOOST_TEST(ev->str == "x");
  // One ASK each (ASK is followed per request, the table stays as it is).
  auto st1 = c->stats();
  BOOST_REQUIRE_MESSAGE(st1, describe(st1));
  BOOST_TEST(st1->ask_redirects == 2u);
  BOOST_TEST(st1->moved_redirects == 0u);
  // ASK leaves the table alone: the owner is still master 1.
  BOOST_TEST(owner_port(slot, from) == from);
}

BOOST_FIXTURE_TEST_CASE(redirects_are_exported_as_metrics, cluster_fixture) {
  cluster_runtime crt{redis_opts()};
  auto& c = *crt.redis;
  auto moved_key = key_on(0, "mm");
  auto ask_key = key_on(1, "ma");
  BOOST_REQUIRE(c("SET", moved_key, "m"));
  BOOST_REQUIRE(c("SET", ask_key, "a"));
  auto scrape = [&] {
    auto snap = collect_metrics(*crt.rt, std::chrono::seconds{2});
    BOOST_REQUIRE_MESSAGE(snap, describe(snap));
    return render_prometheus(*snap);
  };
  auto before = scrape();
  BOOST_TEST(cluster_sample(before, "pulse_gateway_moved_redirects_total{"
                                    "role=\"pipelined\"}")
             == "0");
  BOOST_TEST(cluster_sample(before, "pulse_gateway_ask_redirects_total{"
                                    "role=\"pipelined\"}")
             == "0");
  // A live move of one slot (master 0 -> 2) and half a migration of
  // another (its key already on master 0, the slot still master 1's).
  auto slot = cluster::key_slot(moved_key);
  auto moved = move_slot(slot, master_port(2));
  BOOST_REQUIRE_MESSAGE(moved.empty(), moved);
  BOOST_REQUIRE(wait_owner(slot, master_port(2)));
  auto from = master_port(1);
  auto to = master_port(0);
  half_migrate(*this, ask_key, from, to);
  auto got = c("GET", moved_key);
  BOOST_REQUIRE_MESSAGE(got, describe(got));
  BOOST_TEST(got->str == "m");
  got = c("GET", ask_key);
  BOOST_REQUIRE_MESSAGE(got, describe(got));
  BOOST_TEST(got->str == "a");
  auto after = scrape();
  BOOST_TEST(cluster_sample(after, "pulse_gateway_moved_redirects_total{"
                                   "role=\"pipelined\"}")
             == "1");
  BOOST_TEST(cluster_sample(after, "pulse_gateway_ask_redirects_total{"
                                   "role=\"pipelined\"}")
             == "1");
  // Node connections are opened on first use: masters 0 and 1 (the seed
  // and the SETs) before, plus master 2 for the moved slot after; none was
  // dropped and no refresh (the MOVED starts one) failed.
  BOOST_TEST(cluster_sample(before, "pulse_gateway_cluster_nodes{"
                                    "role=\"pipelined\"}")
             == "2");
  BOOST_TEST(cluster_sample(after, "pulse_gateway_cluster_nodes{"
                                   "role=\"pipelined\"}")
             == "3");
  for (auto& text : {before, after}) {
    BOOST_TEST(cluster_sample(text, "pulse_gateway_cluster_nodes_dropped_"
                                    "total{role=\"pipelined\"}")
               == "0");
    BOOST_TEST(cluster_sample(text, "pulse_gateway_cluster_refresh_failures_"
                                    "total{role=\"pipelined\"}")
               == "0");
  }
}

// Not a benchmark harness, a same-run comparison printed with
// --log_level=message: 8 blocking clients doing SETs through a cluster
// gateway (3 masters) and through an ordinary gateway on one server.
BOOST_FIXTURE_TEST_CASE(throughput_against_a_single_node,
                        cluster_gateway_fixture) {
  redis_fixture single;
  auto single_gw = spawn_gateway(*sys, single.redis_opts());
  auto run = [&](const gateway_actor& g) {
    constexpr int threads = 8;
    constexpr int per_thread = 2000;
    std::atomic<int> errors{0};
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        client wc{*sys, g, std::chrono::seconds{10}};
        for (int i = 0; i < per_thread; ++i)
          if (!wc("SET", "tp:" + std::to_string(t) + ":" + std::to_string(i),
                  "v"))
            ++errors;
      });
    for (auto& x : ts)
      x.join();
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                              - t0)
                  .count();
    BOOST_TEST(errors == 0);
    return threads * per_thread / secs;
  };
  auto one = run(single_gw);
  auto three = run(gw);
  auto one_again = run(single_gw);
  BOOST_TEST_MESSAGE("SET, 8 blocking clients: single node " << one << " / "
                     << one_again << " ops/s, cluster (3 masters) " << three
                     << " ops/s");
  caf::anon_send_exit(single_gw, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(blocking_reads_go_to_the_owner_of_the_key,
                        cluster_gateway_fixture) {
  auto blocking = spawn_cluster_gateway(*sys, redis_opts(),
                                        gateway_role::blocking);
  client bc{*sys, blocking, std::chrono::seconds{10}};
  for (size_t i = 0; i < 3; ++i) {
    auto list = key_on(i, "ql");
    command pop = make_command("BLMPOP", "5", "1", list, "LEFT", "COUNT", "2");
    pop.timeout = 8s;
    std::thread pusher{[&] {
      std::this_thread::sleep_for(50ms);
      (*c)("RPUSH", list, "a", "b", "c");
    }};
    auto r = bc.call(pop);
    pusher.join();
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    BOOST_REQUIRE(r->is_array());
    BOOST_TEST(r->elements[0].str == list);
    BOOST_TEST(r->elements[1].elements.size() == 2u);
  }
  caf::anon_send_exit(blocking, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(streams_maps_and_pools_run_on_the_cluster,
                        cluster_fixture) {
  cluster_runtime crt{redis_opts()};
  auto& rt = *crt.rt;
  auto& c = *crt.redis;
  // Streams: adds and a sink (XREADGROUP BLOCK on its own connection).
  auto s = stream::make("cl-orders");
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  auto sink = attach_fast_sink(rt, *crt.sys, "cl-billing", {"cl-orders"});
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  auto& sub = sink->sub;
  for (int i = 0; i < 50; ++i) {
    auto id = s->add(c, "order", std::to_string(i));
    BOOST_REQUIRE_MESSAGE(id, describe(id));
  }
  std::set<std::string> seen;
  auto until = std::chrono::steady_clock::now() + 20s;
  while (seen.size() < 50 && std::chrono::steady_clock::now() < until) {
    auto ev = sub->next(100ms);
    if (!ev)
      continue;
    seen.insert(ev->payload);
    sub->ack(*ev);
  }
  BOOST_TEST(seen.size() == 50u);
  // Maps: writes, a second replica sees them.
  auto m = rmap::map::join(rt, "cl-prices");
  BOOST_REQUIRE_MESSAGE(m, describe(m));
  auto m2 = rmap::map::join(rt, "cl-prices");
  BOOST_REQUIRE_MESSAGE(m2, describe(m2));
  for (int i = 0; i < 20; ++i) {
    auto prev = (*m)->set("k" + std::to_string(i), std::to_string(i));
    BOOST_REQUIRE_MESSAGE(prev, describe(prev));
  }
  BOOST_TEST(wait_until([&] {
    auto v = (*m2)->get("k19");
    return v && *v == "19";
  }, 10s));
  BOOST_TEST(((*m)->get("k7") == caf::optional<std::string>{"7"}));
  // Pools: jobs dispatched to a worker run.
  auto node = pool_node::add_node(rt, "cl-pool");
  BOOST_REQUIRE_MESSAGE(node, describe(node));
  auto task = add_counting_worker(**node);
  BOOST_REQUIRE_MESSAGE(task, describe(task));
  for (int i = 0; i < 30; ++i) {
    auto err = (*node)->dispatch("job-" + std::to_string(i), "x");
    BOOST_REQUIRE_MESSAGE(!err, render(err));
  }
  BOOST_TEST(wait_until([&] { return (*task)->runs >= 30; }, 20s));
  sub.reset();
  m->reset();
  m2->reset();
  node->reset();
}

BOOST_AUTO_TEST_SUITE_END()
