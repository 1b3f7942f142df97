// Redis Sentinel against real processes: one master, one replica and three
// sentinels on loopback (tests/support/sentinel_fixture.hpp). Discovery,
// the role check, clear errors, and a `SENTINEL FAILOVER` in the middle of
// stream adds (with a sink consuming), map writes and pool dispatches.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/pool/handler.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/sentinel.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/support/sentinel_fixture.hpp"
#include "tests/support/test_runtime.hpp"
#include "tests/support/traffic.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using clock_type = traffic_clock;

// An actor system and a runtime on `opts` (pool ack grace 2 s).
struct sentinel_runtime : test_runtime {
  explicit sentinel_runtime(const redis_options& r)
    : test_runtime(r, [](options& o) { o.pool.ack_grace_period = 2s; }) {
    // nop
  }
};

struct failover_numbers {
  uint64_t stream_lost = 0;
  uint64_t map_lost = 0;
  uint64_t stream_acked = 0;
  uint64_t map_acked = 0;
  uint64_t failed_dispatches = 0;
  uint64_t failed_dispatches_that_ran = 0;
  uint64_t jobs_run_twice = 0;
  uint64_t ran_but_said_safe = 0;
  /// Errors per writer (stream adds, map writes, pool dispatches).
  uint64_t add_errors = 0;
  uint64_t map_errors = 0;
  uint64_t dispatch_errors = 0;
  /// Errors of another code than `disconnected` or `timeout`, except
  /// dispatches refused as stale.
  uint64_t other_errors = 0;
  /// Dispatches refused as stale (the failover discarded a membership
  /// change; not counted in `dispatch_errors`).
  uint64_t stale_dispatches = 0;
};

// Stream adds (a sink consuming them), map writes and pool dispatches run
// while the sentinels fail the master over; everything must go on.
// Returns the acknowledged writes that the new master does not have.
failover_numbers failover_under_load(int64_t wait_replicas,
                                     int replicas = 1) {
  sentinel_fixture fx{replicas};
  BOOST_REQUIRE_MESSAGE(fx.wait_ready(), "sentinels not ready for failover");
  auto opts = fx.redis_opts();
  opts.wait_replicas = wait_replicas;
  // Generous: with both cores busy a healthy replica's ack took over
  // 500 ms once (the map's join failed with not_replicated).
  opts.wait_timeout = 2s;
  opts.command_timeout = 3s;
  sentinel_runtime srt{opts};
  auto& rt = *srt.rt;
  auto old_master = fx.master->port();
  BOOST_REQUIRE(fx.master_port() == old_master);
  // The writers' objects.
  stream_options unbounded; // no MAXLEN: every entry stays to be counted
  unbounded.max_len = 0;
  auto s = stream::make("sentinel-orders", unbounded);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  auto sink = attach_fast_sink(rt, *srt.sys, "sentinel-billing",
                               {"sentinel-orders"});
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  auto m = rmap::map::join(rt, "sentinel-prices");
  BOOST_REQUIRE_MESSAGE(m, describe(m));
  auto node = pool_node::add_node(rt, "sentinel-pool");
  BOOST_REQUIRE_MESSAGE(node, describe(node));
  auto task = add_counting_worker(**node);
  BOOST_REQUIRE_MESSAGE(task, describe(task));
  // The sink's consumer and the writers, 1 ms apart. A failed REQUIRE
  // below unwinds through them: they stop and join their threads first
  // (the threads use what is destroyed after them).
  payload_set consumed;
  traffic_threads consuming;
  consuming.consumer(*sink->sub, consumed, 50ms);
  std::mutex failed_mtx;
  std::vector<std::pair<std::string, caf::error>> failed_jobs;
  store_traffic::options wo;
  wo.pause = 1ms;
  wo.on_dispatch_error = [&](const std::string& key, const caf::error& err) {
    std::lock_guard<std::mutex> guard{failed_mtx};
    failed_jobs.emplace_back(key, err);
  };
  auto& c = *srt.redis;
  store_traffic load{*s, c, **m, **node, wo};
  auto& adds = load.adds;
  auto& writes = load.writes;
  auto& jobs = load.jobs;
  // Some traffic, then the failover.
  auto traffic = clock_type::now();
  BOOST_REQUIRE(wait_until([&] {
    return adds.acked_after({}) >= 50 && writes.acked_after({}) >= 50
           && jobs.acked_after({}) >= 20;
  }, 10s));
  auto trigger = clock_type::now();
  auto reply = fx.failover();
  BOOST_REQUIRE_MESSAGE(reply == "OK", "SENTINEL FAILOVER: " << reply);
  // (a failover attempt that fails under load is retried after twice the
  // fixture's failover-timeout of 5 s)
  BOOST_REQUIRE_MESSAGE(
    wait_until([&] { return fx.master_port() != old_master; }, 25s),
    "the sentinels named no new master within 25 s");
  auto switched = clock_type::now();
  auto new_master = fx.master_port();
  BOOST_TEST(fx.is_replica_port(new_master));
  // The runtime's pipelined connection moves there once its sentinel
  // announces the switch (the old master keeps taking writes until then).
  // (A client of its own: a `client` is for one thread at a time.)
  // With wait-replicas and no replica left, every WAIT holds the
  // connection for wait-timeout: the probe waits behind them.
  client probe{*srt.sys, rt.gateway(), std::chrono::seconds{5}};
  bool on_new = wait_until([&] {
    auto port = probe("CONFIG", "GET", "port");
    return port && port->elements.size() == 2
           && port->elements[1].str == std::to_string(new_master);
  }, 20s);
  BOOST_TEST(on_new, "the gateway did not move to the new master");
  auto moved = clock_type::now();
  // Everything goes on: each writer gets acks for ops issued after the
  // move (bounded).
  bool recovered = wait_until([&] {
    return adds.acked_after(moved) >= 50
           && writes.acked_after(moved) >= 50
           && jobs.acked_after(moved) >= 20;
  }, 25s);
  load.stop();
  BOOST_TEST(recovered);
  // The runtime's connection is still on the new master.
  auto port = c("CONFIG", "GET", "port");
  BOOST_REQUIRE_MESSAGE(port, describe(port));
  BOOST_TEST(port->elements.at(1).str == std::to_string(new_master));
  // Acknowledged writes the new master lacks.
  failover_numbers result;
  auto entries = command_on(new_master, {"XRANGE", s->key(), "-", "+"});
  BOOST_REQUIRE_MESSAGE(entries, describe(entries));
  std::set<std::string> stored;
  for (auto& e : entries->elements)
    if (e.elements.size() == 2)
      for (size_t i = 0; i + 1 < e.elements[1].elements.size(); i += 2)
        if (e.elements[1].elements[i].str == "p") // the payload field
          stored.insert(e.elements[1].elements[i + 1].str);
  auto added = adds.acked_seqs();
  result.stream_acked = added.size();
  for (auto i : added)
    if (stored.count(std::to_string(i)) == 0)
      ++result.stream_lost;
  auto keys = command_on(new_master, {"HKEYS", "map:sentinel-prices:content"});
  BOOST_REQUIRE_MESSAGE(keys, describe(keys));
  std::set<std::string> map_keys;
  for (auto& k : keys->elements)
    map_keys.insert(k.str);
  auto written = writes.acked_seqs();
  result.map_acked = written.size();
  for (auto i : written)
    if (map_keys.count("k" + std::to_string(i)) == 0)
      ++result.map_lost;
  // The sink delivers every stored event (bounded wait).
  bool drained = wait_until([&] { return consumed.has_all(stored); }, 20s);
  consuming.stop();
  BOOST_TEST(drained, "the sink did not deliver every stored event");
  std::printf("sentinel failover (replicas=%d, wait-replicas=%lld): trigger "
              "-> sentinels name the new master %lld ms, -> gateway on it "
              "%lld ms\n",
              replicas, static_cast<long long>(wait_replicas),
              ms_between(trigger, switched), ms_between(trigger, moved));
  for (auto* l : {&adds, &writes, &jobs})
    std::printf("  %-16s acked=%zu (%lld/s before) errors=%llu (%s) "
                "recovery_ms=%lld max_gap_ms=%lld first_error=\"%s\"\n",
                l->what().c_str(), l->count(), l->rate(traffic, trigger),
                static_cast<unsigned long long>(l->errors()),
                l->codes_text().c_str(), l->recovery_ms(trigger, moved),
                l->max_gap_ms(trigger), l->first_error().c_str());
  std::printf("  lost (acked, not on the new master): stream %llu of %llu, "
              "map %llu of %llu; sink consumed %zu of %zu stored\n",
              static_cast<unsigned long long>(result.stream_lost),
              static_cast<unsigned long long>(result.stream_acked),
              static_cast<unsigned long long>(result.map_lost),
              static_cast<unsigned long long>(result.map_acked),
              consumed.size(), stored.size());
  // Each failed dispatch: its error and whether the job ran anyway (on the
  // old master, whose copy of the job the failover then discarded).
  {
    std::lock_guard<std::mutex> guard{failed_mtx};
    for (auto& [key, err] : failed_jobs) {
      auto ran = (*task)->runs_of(key);
      if (ran == 0 && render(err).find("refused as stale") != std::string::npos)
        continue; // counted below
      std::printf("  failed dispatch %s: ran %d times; %s\n", key.c_str(),
                  ran, render(err).c_str());
      if (ran > 0)
        ++result.failed_dispatches_that_ran;
      // A failed dispatch that says "dispatching again is safe" must not
      // have run.
      if (ran > 0
          && render(err).find("dispatching again is safe")
               != std::string::npos)
        ++result.ran_but_said_safe;
    }
    result.failed_dispatches = failed_jobs.size();
  }
  result.jobs_run_twice = (*task)->keys_run_twice();
  {
    std::lock_guard<std::mutex> guard{failed_mtx};
    for (auto& x : failed_jobs)
      if (code_of(x.second) == errc::redis_error
          && render(x.second).find("refused as stale") != std::string::npos)
        ++result.stale_dispatches;
  }
  result.add_errors = adds.errors();
  result.map_errors = writes.errors();
  result.dispatch_errors = jobs.errors() - result.stale_dispatches;
  for (auto* l : {&adds, &writes, &jobs})
    for (auto& [code, n] : l->codes())
      if (code != "disconnected" && code != "timeout")
        result.other_errors += n;
  result.other_errors -= result.stale_dispatches;
  std::printf("  failed dispatches %llu (of them ran: %llu, refused as "
              "stale: %llu), jobs run twice %llu\n",
              static_cast<unsigned long long>(result.failed_dispatches),
              static_cast<unsigned long long>(
                result.failed_dispatches_that_ran),
              static_cast<unsigned long long>(result.stale_dispatches),
              static_cast<unsigned long long>(result.jobs_run_twice));
  std::fflush(stdout);
  sink->sub.reset();
  m->reset();
  node->reset();
  return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sentinel)

BOOST_AUTO_TEST_CASE(options_are_read_and_checked) {
  pulse::config cli;
  auto err = cli.read({"--pulse.redis.sentinels=127.0.0.1:26379,10.0.0.2:26380",
                       "--pulse.redis.master-name=mymaster",
                       "--pulse.redis.wait-replicas=1"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto& r = cli.opts().redis;
  BOOST_TEST(r.sentinels.size() == 2u);
  BOOST_TEST(r.sentinels.at(1) == "10.0.0.2:26380");
  // The list syntax (needed for IPv6 entries), also in the file.
  pulse::config listed;
  err = listed.read({R"(--pulse.redis.sentinels=["[::1]:26379", "h:1"])",
                     "--pulse.redis.master-name=m"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(listed.opts().redis.sentinels.at(0) == "[::1]:26379");
  BOOST_TEST(r.master_name == "mymaster");
  BOOST_TEST(r.wait_replicas == 1);
  BOOST_TEST(!r.use_embedded());
  BOOST_TEST(r.endpoint() == "sentinel:mymaster");
  pulse::config no_name;
  err = no_name.read({"--pulse.redis.sentinels=127.0.0.1:26379"});
  BOOST_TEST(code_of(err) == errc::invalid_config);
  BOOST_TEST(render(err).find("pulse.redis.master-name") != std::string::npos,
             render(err));
  for (auto bad : {"127.0.0.1", "host:0", "a/b:1", ":26379"}) {
    pulse::config cfg;
    err = cfg.read({std::string{"--pulse.redis.sentinels="} + bad,
                    "--pulse.redis.master-name=m"});
    BOOST_TEST(code_of(err) == errc::invalid_config, bad);
    BOOST_TEST(render(err).find("pulse.redis.sentinels") != std::string::npos,
               render(err));
  }
  auto p = detail::parse_sentinel("[::1]:26380");
  BOOST_REQUIRE(p);
  BOOST_TEST(p->host == "::1");
  BOOST_TEST(p->port == 26380);
}

BOOST_AUTO_TEST_CASE(discovery_connects_to_the_master) {
  sentinel_fixture fx;
  auto opts = fx.redis_opts();
  // A dead sentinel first: the next one answers.
  opts.sentinels.insert(opts.sentinels.begin(),
                        "127.0.0.1:" + std::to_string(free_loopback_port()));
  auto s = connect_redis(opts);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  BOOST_TEST(s->endpoint == "127.0.0.1:" + std::to_string(fx.master->port()));
  BOOST_TEST(static_cast<bool>(s->watch));
  // The role check refuses a replica.
  auto replica = test_redis_options(fx.replica->port());
  auto r = detail::connect_node(replica, true, clock_type::now() + 1s);
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::no_master);
  BOOST_TEST(render(r.error()).find("ROLE slave") != std::string::npos,
             render(r.error()));
  // A runtime's connections go to the master.
  sentinel_runtime srt{opts};
  auto& c = *srt.redis;
  BOOST_REQUIRE(c("SET", "sentinel-k", "v"));
  auto v = command_on(fx.master->port(), {"GET", "sentinel-k"});
  BOOST_REQUIRE_MESSAGE(v, describe(v));
  BOOST_TEST(v->str == "v");
  auto role = c("ROLE");
  BOOST_REQUIRE_MESSAGE(role, describe(role));
  BOOST_TEST(role->elements.at(0).str == "master");
}

BOOST_AUTO_TEST_CASE(unknown_master_name_is_a_clear_error) {
  sentinel_fixture fx;
  auto opts = fx.redis_opts();
  opts.master_name = "nosuch";
  auto s = connect_redis(opts);
  BOOST_REQUIRE(!s);
  BOOST_TEST(code_of(s.error()) == errc::no_master);
  auto text = render(s.error());
  BOOST_TEST(text.find("\"nosuch\"") != std::string::npos, text);
  BOOST_TEST(text.find("pulse.redis.master-name") != std::string::npos, text);
  // The runtime reports the same at start.
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  options o;
  o.redis = opts;
  o.log_level = "off";
  auto rt = runtime::start(sys, o);
  BOOST_REQUIRE(!rt);
  BOOST_TEST(code_of(rt.error()) == errc::no_master);
}

BOOST_AUTO_TEST_CASE(no_sentinel_reachable_fails_within_the_connect_timeout) {
  redis_options opts;
  opts.sentinels = {"127.0.0.1:" + std::to_string(free_loopback_port()),
                    "127.0.0.1:" + std::to_string(free_loopback_port())};
  opts.master_name = "mymaster";
  opts.connect_timeout = 1s;
  auto start = clock_type::now();
  auto s = connect_redis(opts);
  auto took = clock_type::now() - start;
  BOOST_REQUIRE(!s);
  BOOST_TEST(code_of(s.error()) == errc::connect_failed);
  auto text = render(s.error());
  BOOST_TEST(text.find("no sentinel reachable") != std::string::npos, text);
  BOOST_TEST(text.find(opts.sentinels[1]) != std::string::npos, text);
  BOOST_TEST((took < 1500ms));
}

BOOST_AUTO_TEST_CASE(wait_replicas_fails_writes_no_replica_acknowledged) {
  // One server without replicas: WAIT 1 times out, so writes fail with
  // not_replicated (after running); reads send no WAIT.
  redis_fixture fx;
  auto opts = fx.redis_opts();
  opts.wait_replicas = 1;
  opts.wait_timeout = 100ms;
  sentinel_runtime srt{opts};
  auto& c = *srt.redis;
  auto start = clock_type::now();
  auto w = c("SET", "wait-k", "v");
  auto took = clock_type::now() - start;
  BOOST_REQUIRE(!w);
  BOOST_TEST(code_of(w.error()) == errc::not_replicated);
  BOOST_TEST(render(w.error()).find("0 of 1 replicas") != std::string::npos,
             render(w.error()));
  BOOST_TEST((took >= 100ms));
  auto v = c("GET", "wait-k");
  BOOST_REQUIRE_MESSAGE(v, describe(v));
  BOOST_TEST(v->str == "v"); // the write ran
  // A batch holding a write, and a script, fail alike; a read batch does
  // not wait.
  auto b = srt.redis->batch({make_command("INCR", "wait-n"),
                             make_command("GET", "wait-n")});
  BOOST_TEST(code_of(b.error()) == errc::not_replicated);
  auto r = srt.redis->batch({make_command("GET", "wait-n")});
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->at(0).str == "1");
  auto e = c("EVAL", "return redis.call('INCR', KEYS[1])", "1", "wait-n");
  BOOST_TEST(code_of(e.error()) == errc::not_replicated);
}

BOOST_AUTO_TEST_CASE(readonly_replies_reset_the_connection_and_retry) {
  // A write that reaches a replica (READONLY) was not run: the gateway
  // resets the connection and sends it again within its deadline, here
  // once the node is a master again.
  redis_fixture a;
  redis_fixture b;
  sentinel_runtime srt{a.redis_opts()};
  auto& c = *srt.redis;
  BOOST_REQUIRE(c("SET", "ro-k", "1"));
  auto made = command_on(a.port(), {"REPLICAOF", "127.0.0.1",
                                    std::to_string(b.port())});
  BOOST_REQUIRE_MESSAGE(made && made->str == "OK", describe(made));
  std::thread promote{[&] {
    std::this_thread::sleep_for(300ms);
    (void) command_on(a.port(), {"REPLICAOF", "NO", "ONE"});
  }};
  auto w = c("SET", "ro-k", "2");
  promote.join();
  BOOST_REQUIRE_MESSAGE(w, describe(w));
  auto stats = c.stats();
  BOOST_REQUIRE_MESSAGE(stats, describe(stats));
  BOOST_TEST(stats->reconnects >= 1u);
  BOOST_TEST(stats->refused_retries >= 1u);
  auto v = command_on(a.port(), {"GET", "ro-k"});
  BOOST_REQUIRE_MESSAGE(v, describe(v));
  BOOST_TEST(v->str == "2");
}

BOOST_AUTO_TEST_CASE(failover_during_streams_maps_and_pools_goes_on) {
  auto n = failover_under_load(0);
  // Asynchronous replication may lose acknowledged writes: counted and
  // printed, not asserted.
  BOOST_TEST(n.stream_acked > 0u);
  BOOST_TEST(n.map_acked > 0u);
  // What docs/operations.md says a failover costs each (serial) writer:
  // the op in flight at the switch fails with `disconnected` (it may have
  // run), and a dispatch the old master took after the promotion may time
  // out (its start was announced on the old master); nothing else, but
  // for dispatches refused as stale while a membership change the
  // failover discarded heals (counted apart; recovery is still checked).
  BOOST_TEST(n.other_errors == 0u);
  BOOST_TEST(n.add_errors <= 2u);
  BOOST_TEST(n.map_errors <= 2u);
  BOOST_TEST(n.dispatch_errors <= 2u);
  // A failed dispatch never claims "dispatching again is safe" for a job
  // that ran.
  BOOST_TEST(n.ran_but_said_safe == 0u);
}

BOOST_AUTO_TEST_CASE(failover_with_wait_replicas_loses_no_acked_write) {
  auto n = failover_under_load(1);
  BOOST_TEST(n.stream_lost == 0u);
  BOOST_TEST(n.map_lost == 0u);
  BOOST_TEST(n.stream_acked > 0u);
  BOOST_TEST(n.map_acked > 0u);
}

BOOST_AUTO_TEST_CASE(failover_with_two_replicas_and_wait_one_goes_on) {
  // With a second replica, WAIT 1 succeeds again at once after the
  // failover (the sentinels re-point that replica to the new master). But
  // it does not protect every write: until then the second replica still
  // follows the old master and acknowledges the writes it takes after the
  // promotion, which the failover then discards. Counted and printed (see
  // docs/operations.md), not asserted: how many depends on timing.
  auto n = failover_under_load(1, 2);
  BOOST_TEST(n.stream_acked > 0u);
  BOOST_TEST(n.map_acked > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
