// Redis Cluster benchmark: the cluster router (3 masters, no replicas)
// against an ordinary gateway on one redis-server, in the same run: SET
// throughput with 1, 64 and 128 requests in flight and the GET p50 round
// trip, next to raw baselines (redis-benchmark against the single node,
// against one cluster master and with --cluster against the cluster; a raw
// hiredis sliding window against the single node).
//
// Usage: cluster_bench [--port=N] [--runs=3] [--scale=1.0]
//        [--only=set1,set64,set128,get,raw]
//        [--work-stealing.<option>=...] [--scheduler.<option>=...]
// `--port` names the single node (else a private one is started); the
// cluster is always private: three `redis-server --cluster-enabled yes`
// joined by `redis-cli --cluster create`.
// Output: one JSON object per line (see bench/common.hpp).

#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include <caf/all.hpp>

#include "bench/common.hpp"
#include "bench/set_load.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_router.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"

#include <fmt/format.h>

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

// The first number of /proc/loadavg (the 1-minute load average).
std::string cluster_loadavg() {
  std::ifstream in{"/proc/loadavg"};
  std::string x;
  in >> x;
  return x.empty() ? "?" : x;
}

// Runs a command on a raw connection; returns the reply's text (status,
// bulk or error), or "" when the connection failed.
std::string cluster_raw_text(uint16_t port,
                             const std::vector<std::string>& args) {
  auto c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr)
      redisFree(c);
    return {};
  }
  append_raw(c, args);
  void* r = nullptr;
  std::string out;
  if (redisGetReply(c, &r) == REDIS_OK && r != nullptr) {
    auto reply = static_cast<redisReply*>(r);
    if (reply->str != nullptr)
      out.assign(reply->str, reply->len);
    freeReplyObject(r);
  }
  redisFree(c);
  return out;
}

// Three masters (no replicas) made a cluster by `redis-cli --cluster
// create`; waits (up to 30 s) until every node says `cluster_state:ok`.
std::vector<std::unique_ptr<redis_server>> start_cluster() {
  std::vector<std::unique_ptr<redis_server>> nodes;
  std::string addrs;
  for (int i = 0; i < 3; ++i) {
    server_options so;
    so.extra_args = {"--cluster-enabled", "yes", "--cluster-port",
                     std::to_string(free_loopback_port()),
                     "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "2000"};
    auto srv = redis_server::start(so);
    if (!srv) {
      std::fprintf(stderr, "cannot start a cluster node: %s\n",
                   render(srv.error()).c_str());
      std::exit(1);
    }
    addrs += fmt::format(" 127.0.0.1:{}", (*srv)->port());
    nodes.push_back(std::move(*srv));
  }
  auto cmd = "redis-cli --cluster create" + addrs
             + " --cluster-yes > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "redis-cli --cluster create failed\n");
    std::exit(1);
  }
  auto deadline = clock_type::now() + 30s;
  for (;;) {
    size_t ok = 0;
    for (auto& n : nodes)
      if (cluster_raw_text(n->port(), {"CLUSTER", "INFO"})
            .find("cluster_state:ok")
          != std::string::npos)
        ++ok;
    if (ok == nodes.size())
      return nodes;
    if (clock_type::now() > deadline) {
      std::fprintf(stderr, "cluster not ok after 30 s\n");
      std::exit(1);
    }
    std::this_thread::sleep_for(50ms);
  }
}

// SET ops/s of `actors` load actors with `window` in flight each (-1 on
// errors or a 120 s stall).
double cluster_run_load(caf::actor_system& sys, const gateway_actor& gw,
                        size_t total, size_t actors, size_t window) {
  return set_load(sys, gw, total, actors, window);
}

// p50 and p99 round trip (µs) of GET on keys of all slots, one at a time,
// from a blocking client.
std::pair<double, double> cluster_get_latency(caf::actor_system& sys,
                                              const gateway_actor& gw,
                                              size_t n) {
  client c{sys, gw, 5s};
  for (int i = 0; i < 200; ++i)
    c("GET", "k0:" + std::to_string(i));
  std::vector<double> us;
  us.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto key = "k0:" + std::to_string(i % 1000);
    auto t0 = clock_type::now();
    c("GET", key);
    us.push_back(std::chrono::duration<double, std::micro>(clock_type::now()
                                                           - t0)
                   .count());
  }
  return {quantile(us, 0.5), quantile(us, 0.99)};
}

// The cluster master that owns redis-benchmark's fixed key (the one that
// does not answer it with MOVED).
uint16_t owner_of_benchmark_key(
  const std::vector<std::unique_ptr<redis_server>>& nodes) {
  for (auto& n : nodes)
    if (cluster_raw_text(n->port(), {"GET", "key:__rand_int__"})
          .rfind("MOVED", 0)
        != 0)
      return n->port();
  return nodes.front()->port();
}

// Measurements of one gateway (single node or cluster), per run.
struct shape_results {
  std::vector<double> set1, set64, set128, get_p50, get_p99;
};

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto load_before = cluster_loadavg();
  auto cluster = start_cluster();
  auto seed = cluster.front()->port();
  auto owner = owner_of_benchmark_key(cluster);
  auto n = static_cast<size_t>(200000 * tgt.scale);
  // One request in flight is latency-bound (~5k/s): fewer operations.
  auto n1 = static_cast<size_t>(20000 * tgt.scale);
  shape_results single, clustered;
  std::vector<double> rb_single, rb_master, rb_cluster, win64, win128,
    rb_get_single, rb_get_master;
  {
    caf::actor_system sys{cfg};
    auto ro = tgt.runtime_options().redis; // with any --pulse.redis.*
    ro.host = "127.0.0.1";
    ro.port = tgt.port;
    ro.command_timeout = 30s;
    auto single_gw = spawn_gateway(sys, ro);
    auto co = ro;
    co.port = seed;
    co.cluster = true;
    auto cluster_gw = spawn_cluster_gateway(sys, co);
    {
      client c{sys, single_gw, 5s};
      c("FLUSHALL");
      client cc{sys, cluster_gw, 10s};
      auto pong = cc("PING");
      if (!pong) {
        std::fprintf(stderr, "cluster gateway: %s\n",
                     render(pong.error()).c_str());
        return 1;
      }
    }
    auto measure = [&](const gateway_actor& gw, shape_results& out) {
      if (tgt.wants("set1"))
        out.set1.push_back(cluster_run_load(sys, gw, n1, 1, 1));
      if (tgt.wants("set64"))
        out.set64.push_back(cluster_run_load(sys, gw, n, 4, 16));
      if (tgt.wants("set128"))
        out.set128.push_back(cluster_run_load(sys, gw, n, 8, 16));
      if (tgt.wants("get")) {
        auto [p50, p99] = cluster_get_latency(sys, gw, 20000);
        out.get_p50.push_back(p50);
        out.get_p99.push_back(p99);
      }
    };
    auto set_cmd = [](size_t i) {
      return std::vector<std::string>{"SET", "k" + std::to_string(i % 1000),
                                      "v"};
    };
    for (int run = 0; run < tgt.runs; ++run) {
      measure(single_gw, single);
      measure(cluster_gw, clustered);
      if (tgt.wants("raw")) {
        auto rb = fmt::format("-t set -P 16 -n {}", n);
        rb_single.push_back(redis_benchmark(tgt.port, rb, "SET", "rps"));
        rb_master.push_back(redis_benchmark(owner, rb, "SET", "rps"));
        rb_cluster.push_back(
          redis_benchmark(seed, "--cluster " + rb, "SET", "rps"));
        win64.push_back(raw_window(tgt.port, n, 64, set_cmd));
        win128.push_back(raw_window(tgt.port, n, 128, set_cmd));
        rb_get_single.push_back(
          1000.0
          * redis_benchmark(tgt.port, "-t get -n 20000 -c 1 -P 1", "GET",
                            "p50_latency_ms"));
        rb_get_master.push_back(
          1000.0
          * redis_benchmark(owner, "-t get -n 20000 -c 1 -P 1", "GET",
                            "p50_latency_ms"));
      }
    }
    caf::anon_send_exit(single_gw, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(cluster_gw, caf::exit_reason::user_shutdown);
  }
  auto extra = fmt::format("\"runs\":{},\"load_before\":{},\"load_after\":{}",
                           tgt.runs, load_before, cluster_loadavg());
  // Cluster against the single node, ours.
  for (auto [name, c, s] :
       {std::tuple{"set_1_in_flight_ops_per_s", &clustered.set1, &single.set1},
        std::tuple{"set_64_in_flight_ops_per_s", &clustered.set64,
                   &single.set64},
        std::tuple{"set_128_in_flight_ops_per_s", &clustered.set128,
                   &single.set128}})
    report_medians("cluster", std::string{"cluster_"} + name, *c,
                   std::string{"single_"} + name, *s, true, extra);
  report_medians("cluster", "cluster_get_p50_us", clustered.get_p50,
                 "single_get_p50_us", single.get_p50, false,
                 extra
                   + fmt::format(",\"cluster_p99_us\":{:.1f},"
                                 "\"single_p99_us\":{:.1f}",
                                 median(clustered.get_p99),
                                 median(single.get_p99)));
  // Ours against raw clients.
  report_medians("cluster", "single_set_64_in_flight_ops_per_s", single.set64,
                 "raw_hiredis_window64_single_ops_per_s", win64, true, extra);
  report_medians("cluster", "single_set_128_in_flight_ops_per_s",
                 single.set128, "raw_hiredis_window128_single_ops_per_s",
                 win128, true, extra);
  report_medians("cluster", "single_set_128_in_flight_ops_per_s",
                 single.set128, "redis_benchmark_P16_c50_single_set_rps",
                 rb_single, true, extra);
  report_medians("cluster", "cluster_set_128_in_flight_ops_per_s",
                 clustered.set128, "redis_benchmark_cluster_P16_c50_set_rps",
                 rb_cluster, true, extra);
  report_medians("cluster", "cluster_get_p50_us", clustered.get_p50,
                 "redis_benchmark_c1_P1_master_get_p50_us", rb_get_master,
                 false, extra);
  report_medians("cluster", "single_get_p50_us", single.get_p50,
                 "redis_benchmark_c1_P1_single_get_p50_us", rb_get_single,
                 false, extra);
  // Raw: cluster (all masters, and one master alone) against the single node.
  report_medians("cluster", "redis_benchmark_cluster_P16_c50_set_rps",
                 rb_cluster, "redis_benchmark_P16_c50_single_set_rps",
                 rb_single, true, extra);
  report_medians("cluster", "redis_benchmark_P16_c50_one_master_set_rps",
                 rb_master, "redis_benchmark_P16_c50_single_set_rps",
                 rb_single, true, extra);
  return 0;
}
