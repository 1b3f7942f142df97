// Redis Cluster scenarios against real processes (3 masters, 3 replicas,
// tests/support/cluster_fixture.hpp): stream adds consumed by a sink, map
// writes watched by a second replica and pool dispatches run by a worker,
// all through one runtime in cluster mode and without pause, while the
// stream's slot and then the map's slot move to another master (MIGRATE,
// then SETSLOT NODE) and the pool's master fails over (CLUSTER FAILOVER).
// Nothing acknowledged may be lost; errors and pauses are counted and
// printed (--log_level=message).

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/pool/handler.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/reader.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/support/traffic.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(redis_cluster_scenarios)

BOOST_FIXTURE_TEST_CASE(streams_maps_and_pools_survive_migrations_and_failover,
                        cluster_fixture) {
  cluster_runtime crt{redis_opts()};
  auto& rt = *crt.rt;
  // The stream on master 0, the map on master 1, the pool on master 2.
  auto on_master = [this](size_t i) {
    return [this, i](uint16_t slot) {
      return owner_port(slot, master_port(0)) == master_port(i);
    };
  };
  auto stream_name = name_in_slot("sc-orders-", stream_key, on_master(0));
  auto map_name = name_in_slot("sc-prices-", [](const std::string& n) {
    return "map:" + n + ":content";
  }, on_master(1));
  auto pool_name = name_in_slot(
    "sc-pool-", [](const std::string& n) { return n; }, on_master(2));
  auto stream_slot = cluster::key_slot(stream_key(stream_name));
  auto map_slot = cluster::key_slot("map:" + map_name + ":content");
  auto pool_slot = cluster::key_slot(pool_name);
  auto s = stream::make(stream_name);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  auto sink = attach_fast_sink(rt, *crt.sys, "sc-billing", {stream_name});
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  reader_options ro;
  ro.block = 50ms;
  auto reader = spawn_reader(rt, {stream_name}, ro);
  BOOST_REQUIRE_MESSAGE(reader, describe(reader));
  auto reading = subscription::attach(*crt.sys, *reader);
  BOOST_REQUIRE_MESSAGE(reading, describe(reading));
  auto writer_map = rmap::map::join(rt, map_name);
  BOOST_REQUIRE_MESSAGE(writer_map, describe(writer_map));
  auto watcher_map = rmap::map::join(rt, map_name);
  BOOST_REQUIRE_MESSAGE(watcher_map, describe(watcher_map));
  auto node = pool_node::add_node(rt, pool_name);
  BOOST_REQUIRE_MESSAGE(node, describe(node));
  auto task = add_counting_worker(**node);
  BOOST_REQUIRE_MESSAGE(task, describe(task));
  // Two consumers (the reader's without acks), and three writers without
  // pause until told to stop (the stream's on a client of its own); a
  // check that ends the case stops and joins them.
  payload_set seen, read;
  traffic_threads consuming;
  consuming.consumer(*sink->sub, seen, 100ms);
  consuming.consumer(**reading, read, 100ms, false);
  client wc{*crt.sys, rt.gateway(), std::chrono::seconds{10}};
  store_traffic load{*s, wc, **writer_map, **node};
  BOOST_REQUIRE(load.wait_more(100, 30, 20s));
  // 1. The stream's slot moves from master 0 to master 1.
  auto moved = move_slot(stream_slot, master_port(1));
  BOOST_REQUIRE_MESSAGE(moved.empty(), moved);
  BOOST_REQUIRE(wait_owner(stream_slot, master_port(1)));
  BOOST_TEST(load.adds.wait_more(100, 20s));
  // 2. The map's slot moves from master 1 to master 2.
  moved = move_slot(map_slot, master_port(2));
  BOOST_REQUIRE_MESSAGE(moved.empty(), moved);
  BOOST_REQUIRE(wait_owner(map_slot, master_port(2)));
  BOOST_TEST(load.writes.wait_more(100, 20s));
  // 3. Master 2 (the pool's, now also the map's) fails over to its replica.
  auto replica = nodes[5]->port();
  auto fo = command_on(replica, {"CLUSTER", "FAILOVER"});
  BOOST_REQUIRE_MESSAGE(fo && !fo->is_error(), describe(fo));
  auto t0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE(wait_until(
    [&] { return owner_port(pool_slot, replica) == replica; }, 10s));
  BOOST_TEST(load.jobs.wait_more(30, 20s));
  BOOST_TEST(load.writes.wait_more(100, 20s));
  auto resumed = std::chrono::steady_clock::now();
  load.stop();
  // Nothing acknowledged is lost: every acked add reaches the sink and the
  // reader, every
  // acked write is in the hash and in the watching replica, every
  // acknowledged dispatch ran.
  auto added = load.adds.acked_seqs();
  auto consumed_all = wait_until([&] { return seen.has_all(added); }, 20s);
  BOOST_TEST(consumed_all, "acked stream adds never delivered to the sink");
  auto read_all = wait_until([&] { return read.has_all(added); }, 20s);
  BOOST_TEST(read_all, "acked stream adds the reader never saw");
  auto written = load.writes.acked_seqs();
  auto& c = *crt.redis;
  size_t missing_in_hash = 0;
  for (auto i : written) {
    auto v = c("HGET", "map:" + map_name + ":content", "k" + std::to_string(i));
    if (!v || v->str != std::to_string(i))
      ++missing_in_hash;
  }
  BOOST_TEST(missing_in_hash == 0u);
  auto replicated = wait_until([&] {
    for (auto i : written) {
      auto v = (*watcher_map)->get("k" + std::to_string(i));
      if (!v || *v != std::to_string(i))
        return false;
    }
    return true;
  }, 20s);
  BOOST_TEST(replicated, "the watching replica misses acked writes");
  auto dispatched = load.jobs.count();
  BOOST_TEST(wait_until([&] { return (*task)->runs >= dispatched; }, 20s));
  BOOST_TEST_MESSAGE(
    "cluster scenario: adds acked " << added.size() << " errors "
    << load.adds.errors() << " (" << load.adds.first_error()
    << "); map writes acked " << written.size() << " errors "
    << load.writes.errors() << " (" << load.writes.first_error()
    << "); jobs acked " << dispatched << " errors " << load.jobs.errors()
    << " (" << load.jobs.first_error() << "), runs " << (*task)->runs
    << "; after FAILOVER 30 jobs and 100 writes acked in "
    << std::chrono::duration_cast<std::chrono::milliseconds>(resumed - t0)
         .count()
    << " ms");
  consuming.stop();
  sink->sub.reset();
  reading->reset();
  writer_map->reset();
  watcher_map->reset();
  node->reset();
}

BOOST_AUTO_TEST_SUITE_END()
