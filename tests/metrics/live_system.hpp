#pragma once

/// Fixtures of the metrics tests: a runtime with the metrics endpoint on a
/// free loopback port, and a live system doing work on it (a sink, a
/// replica and a pool node).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/test/unit_test.hpp>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "tests/metrics/metrics_support.hpp"
#include "tests/support/runtime_fixture.hpp"

namespace pulse::test {

using namespace std::chrono_literals;

/// Starts jobs at once and remembers nothing: the counters are the point.
struct noop_handler : job_handler {
  caf::error start(const job&) override { return caf::none; }
  caf::error stop(const std::string&) override { return caf::none; }
};

/// A runtime with the metrics endpoint on a free loopback port.
struct metrics_fixture : configured_runtime {
  explicit metrics_fixture(caf::timespan scrape_timeout = 2s)
    : configured_runtime([scrape_timeout](options& o) {
        o.metrics.port = free_loopback_port();
        o.metrics.scrape_timeout = scrape_timeout;
      }) {
    // nop
  }

  uint16_t port() const { return rt->metrics_port(); }
};

/// A live system: sink "billing" on stream "orders" (5 events: 4 acked, 1
/// nacked and then dead-lettered), map "config" with 3 writes, pool "jobs"
/// with one worker, 3 dispatches and 1 stop (2 jobs running).
struct live_system : metrics_fixture {
  live_system() {
    sink_options so;
    so.start = "0";
    so.ack_grace = 200ms;
    so.idle_check = 50ms;
    so.max_deliveries = 1;
    auto s = spawn_sink(*rt, "billing", {"orders"}, so);
    BOOST_REQUIRE_MESSAGE(s, describe(s));
    sink = *s;
    auto str = stream::make("orders");
    BOOST_REQUIRE(str);
    for (int i = 0; i < 5; ++i)
      BOOST_REQUIRE(str->add(*redis, "order", "payload " + std::to_string(i)));
    auto sub = subscription::attach(*sys, sink);
    BOOST_REQUIRE_MESSAGE(sub, describe(sub));
    // Events 0-3 acked, event 4 nacked: with max_deliveries 1 it goes to
    // the dead-letter stream once its grace period is over.
    for (int i = 0; i < 5; ++i) {
      auto ev = (*sub)->next(5000ms);
      BOOST_REQUIRE(ev);
      if (ev->payload == "payload 4")
        (*sub)->nack(*ev, "boom");
      else
        (*sub)->ack(*ev);
    }
    subscriber = std::move(*sub);
    BOOST_REQUIRE(wait_until(
      [&] {
        auto st = sink_stats();
        return st && st->dead_lettered == 1 && st->acked == 4;
      },
      10s));
    auto m = rmap::map::join(*rt, "config");
    BOOST_REQUIRE_MESSAGE(m, describe(m));
    map = *m;
    for (auto k : {"a", "b", "c"})
      BOOST_REQUIRE(map->set(k, "v"));
    pool_options po;
    // Long enough that a stall of a loaded test machine never lets a lease
    // expire (with 2 s one did, and the node fenced its worker mid-case).
    po.worker_ttl = 10s;
    po.ack_grace_period = 1s;
    po.job_sink_block_duration = 200ms;
    auto n = pool_node::add_node(*rt, "jobs", po);
    BOOST_REQUIRE_MESSAGE(n, describe(n));
    node = std::move(*n);
    BOOST_REQUIRE(node->add_worker(std::make_shared<noop_handler>()));
    for (auto k : {"k1", "k2", "k3"})
      BOOST_REQUIRE(!node->dispatch(k, "p"));
    BOOST_REQUIRE(!node->stop_job("k1"));
    // The stop runs on the worker: wait until it is counted.
    BOOST_REQUIRE(wait_until(
      [&] {
        return sample_value(http_get(port(), "/metrics").body,
                            node_series("pulse_pool_running_jobs"))
               == std::optional<std::string>{"2"};
      },
      10s));
  }

  ~live_system() {
    if (node)
      node->close();
    node.reset();
    subscriber.reset();
    if (map)
      map->close();
    map.reset();
  }

  caf::expected<stream_stats> sink_stats() {
    caf::expected<stream_stats> r{stream_stats{}};
    (*self)->request(sink, 5s, stats_atom::value)
      .receive([&](const stream_stats& x) { r = x; },
               [&](caf::error& e) { r = std::move(e); });
    return r;
  }

  uint64_t map_revision() {
    uint64_t rev = 0;
    (*self)->request(map->replica(), 5s, stats_atom::value)
      .receive([&](const replica_stats& x) { rev = x.rev; },
               [&](caf::error&) {});
    return rev;
  }

  std::string node_series(const std::string& family) {
    return family + "{pool=\"jobs\",node=\"" + node_id() + "\"}";
  }

  std::string node_id() {
    auto ws = node->workers();
    return ws && !ws->empty() ? ws->front().node : std::string{};
  }

  sink_actor sink;
  std::unique_ptr<subscription> subscriber;
  std::shared_ptr<rmap::map> map;
  std::unique_ptr<pool_node> node;
};

} // namespace pulse::test
