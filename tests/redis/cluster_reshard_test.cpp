// A large resharding against real processes (3 masters, 3 replicas,
// tests/support/cluster_fixture.hpp): slots 0-599 move from master 0 to
// master 1 one after another (`move_slot`: IMPORTING/MIGRATING, MIGRATE of
// every key, SETSLOT NODE, as `redis-cli --cluster reshard` does), 1,800
// keys with them, while one runtime in cluster mode adds stream events
// consumed by a sink, writes a map and dispatches pool jobs, the stream's,
// the map's and the pool's slots among the moved ones. Nothing
// acknowledged may be lost, every key must be readable afterwards; errors
// and redirects are counted and printed (--log_level=message). A first
// case moves only the pool's slot, slowly.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
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
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/support/sentinel_fixture.hpp"
#include "tests/support/traffic.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// The slots that move: 0..reshard_slots-1, all master 0's at first.
constexpr uint16_t reshard_slots = 600;

} // namespace

BOOST_AUTO_TEST_SUITE(redis_cluster_reshard)

// The pool's own slot moves while jobs are dispatched, one key per
// MIGRATE, 20 ms apart, so the pool's scripts run into the migration many
// times. They declare two keys that never exist (`script_keys`): the
// source answers ASK, the importing node TRYAGAIN, and the router sends
// them again until the slot has moved. Before, with the prefix as their
// only key, the importing node ran them and made keys of its own that the
// next MIGRATE refused (BUSYKEY).
BOOST_FIXTURE_TEST_CASE(a_pools_own_slot_moves_under_dispatches,
                        cluster_fixture) {
  cluster_runtime crt{redis_opts()};
  auto& rt = *crt.rt;
  auto pool_name = name_in_slot(
    "mv-pool-", [](const std::string& n) { return n; },
    [](uint16_t slot) { return slot <= 5460; }); // master 0's
  auto slot = cluster::key_slot(pool_name);
  auto node = pool_node::add_node(rt, pool_name);
  BOOST_REQUIRE_MESSAGE(node, describe(node));
  auto task = add_counting_worker(**node);
  BOOST_REQUIRE_MESSAGE(task, describe(task));
  auto second = add_counting_worker(**node);
  BOOST_REQUIRE_MESSAGE(second, describe(second));
  op_log jobs{"pool dispatches"};
  traffic_threads dispatching;
  dispatching.writer(jobs, [&](int i) {
    return (*node)->dispatch("job-" + std::to_string(i), "x");
  });
  BOOST_REQUIRE(jobs.wait_more(50, 20s));
  auto keys_before = command_on(master_port(0), {"CLUSTER", "COUNTKEYSINSLOT",
                                                 std::to_string(slot)});
  BOOST_REQUIRE_MESSAGE(keys_before, describe(keys_before));
  auto t0 = std::chrono::steady_clock::now();
  auto before = jobs.count();
  auto moved = move_slot(slot, master_port(1), 1, 20ms);
  BOOST_REQUIRE_MESSAGE(moved.empty(), "slot " << slot << ": " << moved);
  BOOST_REQUIRE(wait_owner(slot, master_port(1)));
  auto took = std::chrono::steady_clock::now() - t0;
  auto during = jobs.count() - before;
  // Dispatches go on on the new owner; nothing stayed behind.
  BOOST_TEST(jobs.wait_more(50, 20s));
  dispatching.stop();
  auto left = command_on(master_port(0), {"CLUSTER", "COUNTKEYSINSLOT",
                                          std::to_string(slot)});
  BOOST_REQUIRE_MESSAGE(left, describe(left));
  BOOST_TEST(left->integer == 0);
  // Every acknowledged dispatch ran, none twice, none failed.
  auto dispatched = jobs.count();
  auto runs = [&] { return (*task)->runs + (*second)->runs; };
  BOOST_TEST(wait_until([&] { return runs() >= dispatched; }, 20s),
             "runs " << runs() << " of " << dispatched << " acked");
  BOOST_TEST((*task)->keys_run_twice() + (*second)->keys_run_twice() == 0u);
  BOOST_TEST(jobs.errors() == 0u, jobs.codes_text() << ": "
                                                    << jobs.first_error());
  auto st = crt.redis->stats();
  BOOST_REQUIRE_MESSAGE(st, describe(st));
  BOOST_TEST_MESSAGE("pool slot " << slot << ": " << keys_before->integer
                     << " keys moved one by one in " << ms_of(took)
                     << " ms; dispatches acked during it " << during
                     << ", in all " << dispatched << ", errors "
                     << jobs.errors() << "; ASK " << st->ask_redirects
                     << ", MOVED " << st->moved_redirects
                     << ", sent again (TRYAGAIN) " << st->refused_retries);
  node->reset();
}

BOOST_FIXTURE_TEST_CASE(moving_600_slots_under_traffic_loses_nothing,
                        cluster_fixture) {
  cluster_runtime crt{redis_opts()};
  auto& rt = *crt.rt;
  auto& c = *crt.redis;
  // Three keys in every moving slot (hash tags found by search).
  std::map<uint16_t, std::string> tags;
  for (int n = 0; tags.size() < reshard_slots; ++n) {
    auto tag = "t" + std::to_string(n);
    auto slot = cluster::key_slot(tag);
    if (slot < reshard_slots)
      tags.emplace(slot, tag);
  }
  std::vector<std::string> fill;
  for (auto& kv : tags)
    for (int i = 0; i < 3; ++i)
      fill.push_back("{" + kv.second + "}:" + std::to_string(i));
  for (size_t i = 0; i < fill.size(); i += 200) {
    std::vector<command> cmds;
    for (size_t j = i; j < std::min(fill.size(), i + 200); ++j)
      cmds.push_back(make_command("SET", fill[j], fill[j]));
    auto r = c.batch(std::move(cmds));
    BOOST_REQUIRE_MESSAGE(r, describe(r));
  }
  // The stream, the map and the pool live in moving slots.
  auto moving = [](uint16_t slot) { return slot < reshard_slots; };
  auto stream_name = name_in_slot("rs-orders-", stream_key, moving);
  auto map_name = name_in_slot("rs-prices-", [](const std::string& n) {
    return "map:" + n + ":content";
  }, moving);
  auto pool_name = name_in_slot(
    "rs-pool-", [](const std::string& n) { return n; }, moving);
  auto sink = attach_fast_sink(rt, *crt.sys, "rs-billing", {stream_name});
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  auto writer_map = rmap::map::join(rt, map_name);
  BOOST_REQUIRE_MESSAGE(writer_map, describe(writer_map));
  auto node = pool_node::add_node(rt, pool_name);
  BOOST_REQUIRE_MESSAGE(node, describe(node));
  auto task = add_counting_worker(**node);
  BOOST_REQUIRE_MESSAGE(task, describe(task));
  auto s = stream::make(stream_name);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  // A consumer, and three writers without pause until told to stop (the
  // stream's on a client of its own); a check that ends the case stops
  // and joins them.
  payload_set seen;
  traffic_threads consuming;
  consuming.consumer(*sink->sub, seen, 100ms);
  client wc{*crt.sys, rt.gateway(), std::chrono::seconds{10}};
  store_traffic load{*s, wc, **writer_map, **node};
  auto& adds = load.adds;
  auto& writes = load.writes;
  auto& jobs = load.jobs;
  BOOST_REQUIRE(load.wait_more(100, 30, 20s));
  // The resharding: slot by slot, master 0 -> master 1.
  auto t0 = std::chrono::steady_clock::now();
  auto before = std::make_tuple(adds.count(), writes.count(), jobs.count());
  for (uint16_t slot = 0; slot < reshard_slots; ++slot) {
    auto moved = move_slot(slot, master_port(1));
    BOOST_REQUIRE_MESSAGE(moved.empty(), "slot " << slot << ": " << moved);
  }
  BOOST_REQUIRE(wait_owner(reshard_slots - 1, master_port(1)));
  auto took = std::chrono::steady_clock::now() - t0;
  auto during = std::make_tuple(adds.count() - std::get<0>(before),
                                writes.count() - std::get<1>(before),
                                jobs.count() - std::get<2>(before));
  // Every writer goes on after the resharding.
  BOOST_TEST(adds.wait_more(100, 20s));
  BOOST_TEST(writes.wait_more(100, 20s));
  BOOST_TEST(jobs.wait_more(30, 20s));
  load.stop();
  // Every key moved, none lost; master 0 has none of them left.
  size_t missing = 0;
  for (size_t i = 0; i < fill.size(); i += 200) {
    std::vector<command> cmds;
    for (size_t j = i; j < std::min(fill.size(), i + 200); ++j)
      cmds.push_back(make_command("GET", fill[j]));
    auto r = c.batch(std::move(cmds));
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    for (size_t j = 0; j < r->size(); ++j)
      if ((*r)[j].str != fill[i + j])
        ++missing;
  }
  BOOST_TEST(missing == 0u);
  // Master 0 holds no key of a moved slot any more.
  size_t left_in_moved = 0;
  for (uint16_t slot = 0; slot < reshard_slots; ++slot) {
    auto n = command_on(master_port(0), {"CLUSTER", "COUNTKEYSINSLOT",
                                         std::to_string(slot)});
    if (!n || n->integer != 0)
      ++left_in_moved;
  }
  BOOST_TEST(left_in_moved == 0u);
  // Nothing acknowledged is lost: every acked add reaches the sink, every
  // acked write is in the hash, every acknowledged dispatch ran.
  auto added = adds.acked_seqs();
  auto consumed_all = wait_until([&] { return seen.has_all(added); }, 20s);
  std::string where;
  if (!consumed_all) {
    // Where the missing events are: in the stream? pending in the group?
    auto lost = seen.missing(added);
    auto len = c("XLEN", stream_key(stream_name));
    auto pending = c("XPENDING", stream_key(stream_name), "rs-billing");
    where = "missing " + std::to_string(lost.size()) + " of "
            + std::to_string(added.size()) + ", first "
            + std::to_string(lost.empty() ? -1 : lost.front()) + "; XLEN "
            + (len ? len->render() : describe(len)) + "; XPENDING "
            + (pending ? pending->render() : describe(pending));
  }
  BOOST_TEST(consumed_all,
             "acked stream adds never delivered to the sink: " << where);
  auto written = writes.acked_seqs();
  size_t missing_in_hash = 0;
  auto hash = c("HGETALL", "map:" + map_name + ":content");
  BOOST_REQUIRE_MESSAGE(hash, describe(hash));
  std::map<std::string, std::string> fields;
  for (size_t i = 0; i + 1 < hash->elements.size(); i += 2)
    fields[hash->elements[i].str] = hash->elements[i + 1].str;
  for (auto i : written) {
    auto f = fields.find("k" + std::to_string(i));
    if (f == fields.end() || f->second != std::to_string(i))
      ++missing_in_hash;
  }
  BOOST_TEST(missing_in_hash == 0u);
  auto dispatched = jobs.count();
  BOOST_TEST(wait_until([&] { return (*task)->runs >= dispatched; }, 20s));
  auto st = c.stats();
  BOOST_REQUIRE_MESSAGE(st, describe(st));
  BOOST_TEST(st->moved_redirects > 0u);
  BOOST_TEST(st->cluster_refresh_failures == 0u);
  BOOST_TEST_MESSAGE(
    "cluster reshard: stream slot "
    << cluster::key_slot(stream_key(stream_name)) << ", map slot "
    << cluster::key_slot("map:" + map_name + ":content") << ", pool slot "
    << cluster::key_slot(pool_name) << "; " << reshard_slots
    << " slots, " << fill.size()
    << " keys moved in "
    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
    << " ms; acked during it: adds " << std::get<0>(during) << ", map writes "
    << std::get<1>(during) << ", jobs " << std::get<2>(during)
    << "; errors: adds " << adds.errors() << " (" << adds.first_error()
    << "), map writes " << writes.errors() << " (" << writes.first_error()
    << "), jobs " << jobs.errors() << " (" << jobs.first_error() << "); MOVED "
    << st->moved_redirects << ", ASK " << st->ask_redirects << ", runs "
    << (*task)->runs << " of " << dispatched << " acked");
  consuming.stop();
  sink->sub.reset();
  writer_map->reset();
  node->reset();
}

BOOST_AUTO_TEST_SUITE_END()
