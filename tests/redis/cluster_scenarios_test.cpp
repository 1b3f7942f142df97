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

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// A name `<prefix><n>` whose key (`key_of(name)`) master `i` owns.
std::string scenario_name_on(const cluster_fixture& f, size_t i,
                             const std::string& prefix,
                             const std::function<std::string(
                               const std::string&)>& key_of) {
  for (int n = 0;; ++n) {
    auto name = prefix + std::to_string(n);
    auto slot = cluster::key_slot(key_of(name));
    if (f.owner_port(slot, f.master_port(0)) == f.master_port(i))
      return name;
  }
}

/// Counts the jobs it runs.
struct scenario_task : task_handler {
  std::atomic<uint64_t> runs{0};
  caf::expected<std::string> run(const job&) override {
    ++runs;
    return std::string{"done"};
  }
};

/// What one writer got acknowledged, and its errors.
struct scenario_tally {
  std::mutex mtx;
  std::set<int> acked;
  size_t errors = 0;
  std::string first_error;

  void ok(int i) {
    std::lock_guard<std::mutex> guard{mtx};
    acked.insert(i);
  }
  void failed(const caf::error& err) {
    std::lock_guard<std::mutex> guard{mtx};
    if (errors++ == 0)
      first_error = render(err);
  }
  size_t count() {
    std::lock_guard<std::mutex> guard{mtx};
    return acked.size();
  }
  std::set<int> snapshot() {
    std::lock_guard<std::mutex> guard{mtx};
    return acked;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(redis_cluster_scenarios)

BOOST_FIXTURE_TEST_CASE(streams_maps_and_pools_survive_migrations_and_failover,
                        cluster_fixture) {
  cluster_runtime crt{redis_opts()};
  auto& rt = *crt.rt;
  // The stream on master 0, the map on master 1, the pool on master 2.
  auto stream_name = scenario_name_on(*this, 0, "sc-orders-", stream_key);
  auto map_name = scenario_name_on(*this, 1, "sc-prices-",
                                   [](const std::string& n) {
                                     return "map:" + n + ":content";
                                   });
  auto pool_name = scenario_name_on(*this, 2, "sc-pool-",
                                    [](const std::string& n) { return n; });
  auto stream_slot = cluster::key_slot(stream_key(stream_name));
  auto map_slot = cluster::key_slot("map:" + map_name + ":content");
  auto pool_slot = cluster::key_slot(pool_name);
  sink_options so;
  so.block = 50ms;
  so.idle_check = 100ms;
  auto sink = spawn_sink(rt, "sc-billing", {stream_name}, so);
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  auto sub = subscription::attach(*crt.sys, *sink);
  BOOST_REQUIRE_MESSAGE(sub, describe(sub));
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
  auto task = std::make_shared<scenario_task>();
  BOOST_REQUIRE((*node)->add_worker(task));
  // Three writers and a consumer, without pause until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<bool> stop_consuming{false};
  scenario_tally adds, writes, jobs;
  std::mutex seen_mtx;
  std::set<int> seen, read;
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    client c{*crt.sys, rt.gateway(), std::chrono::seconds{10}};
    auto s = stream::make(stream_name);
    for (int i = 0; s && !stop; ++i) {
      auto id = s->add(c, "order", std::to_string(i));
      id ? adds.ok(i) : adds.failed(id.error());
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; !stop; ++i) {
      auto prev = (*writer_map)->set("k" + std::to_string(i),
                                     std::to_string(i));
      prev ? writes.ok(i) : writes.failed(prev.error());
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; !stop; ++i) {
      auto err = (*node)->dispatch("job-" + std::to_string(i), "x");
      err ? jobs.failed(err) : jobs.ok(i);
    }
  });
  threads.emplace_back([&] {
    while (!stop_consuming) {
      auto ev = (*sub)->next(100ms);
      if (!ev)
        continue;
      {
        std::lock_guard<std::mutex> guard{seen_mtx};
        seen.insert(std::stoi(ev->payload));
      }
      (*sub)->ack(*ev);
    }
  });
  threads.emplace_back([&] {
    while (!stop_consuming) {
      auto ev = (*reading)->next(100ms);
      if (!ev)
        continue;
      std::lock_guard<std::mutex> guard{seen_mtx};
      read.insert(std::stoi(ev->payload));
    }
  });
  // Stops and joins every thread, also when a check below ends the case.
  auto join_all = [&] {
    stop = true;
    stop_consuming = true;
    for (auto& t : threads)
      if (t.joinable())
        t.join();
  };
  struct guard_t {
    std::function<void()> f;
    ~guard_t() { f(); }
  } guard{join_all};
  auto progress = [&](scenario_tally& t, size_t more) {
    auto at = t.count();
    return wait_until([&] { return t.count() >= at + more; }, 20s);
  };
  BOOST_REQUIRE(progress(adds, 100) && progress(writes, 100)
                && progress(jobs, 30));
  // 1. The stream's slot moves from master 0 to master 1.
  auto moved = move_slot(stream_slot, master_port(1));
  BOOST_REQUIRE_MESSAGE(moved.empty(), moved);
  BOOST_REQUIRE(wait_owner(stream_slot, master_port(1)));
  BOOST_TEST(progress(adds, 100));
  // 2. The map's slot moves from master 1 to master 2.
  moved = move_slot(map_slot, master_port(2));
  BOOST_REQUIRE_MESSAGE(moved.empty(), moved);
  BOOST_REQUIRE(wait_owner(map_slot, master_port(2)));
  BOOST_TEST(progress(writes, 100));
  // 3. Master 2 (the pool's, now also the map's) fails over to its replica.
  auto replica = nodes[5]->port();
  auto fo = command_on(replica, {"CLUSTER", "FAILOVER"});
  BOOST_REQUIRE_MESSAGE(fo && !fo->is_error(), describe(fo));
  auto t0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE(wait_until(
    [&] { return owner_port(pool_slot, replica) == replica; }, 10s));
  BOOST_TEST(progress(jobs, 30));
  BOOST_TEST(progress(writes, 100));
  auto resumed = std::chrono::steady_clock::now();
  stop = true;
  for (size_t i = 0; i < 3; ++i)
    threads[i].join();
  // Nothing acknowledged is lost: every acked add reaches the sink and the
  // reader, every
  // acked write is in the hash and in the watching replica, every
  // acknowledged dispatch ran.
  auto added = adds.snapshot();
  auto consumed_all = wait_until([&] {
    std::lock_guard<std::mutex> g{seen_mtx};
    for (auto i : added)
      if (seen.count(i) == 0)
        return false;
    return true;
  }, 20s);
  BOOST_TEST(consumed_all, "acked stream adds never delivered to the sink");
  auto read_all = wait_until([&] {
    std::lock_guard<std::mutex> g{seen_mtx};
    for (auto i : added)
      if (read.count(i) == 0)
        return false;
    return true;
  }, 20s);
  BOOST_TEST(read_all, "acked stream adds the reader never saw");
  auto written = writes.snapshot();
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
  auto dispatched = jobs.count();
  BOOST_TEST(wait_until([&] { return task->runs >= dispatched; }, 20s));
  BOOST_TEST_MESSAGE(
    "cluster scenario: adds acked " << added.size() << " errors "
    << adds.errors << " (" << adds.first_error << "); map writes acked "
    << written.size() << " errors " << writes.errors << " ("
    << writes.first_error << "); jobs acked " << dispatched << " errors "
    << jobs.errors << " (" << jobs.first_error << "), runs " << task->runs
    << "; after FAILOVER 30 jobs and 100 writes acked in "
    << std::chrono::duration_cast<std::chrono::milliseconds>(resumed - t0)
         .count()
    << " ms");
  join_all();
  sub->reset();
  reading->reset();
  writer_map->reset();
  watcher_map->reset();
  node->reset();
}

BOOST_AUTO_TEST_SUITE_END()
