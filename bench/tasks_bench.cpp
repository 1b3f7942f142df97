// Jobs that finish: dispatch_and_wait against a task handler that returns
// a result, as BullMQ's benchmarks measure it (completed jobs/s with a
// result, 50 concurrent; add -> completed latency at light load), next to
// raw baselines measured in the same run:
// - throughput: a raw request/reply relay over two lists (50 client
//   threads RPUSH a request and BLPOP their own reply list; 4 server
//   threads BLMPOP requests and RPUSH replies), the floor of any Redis job
//   queue that returns results;
// - latency: one RPUSH -> BLPOP hop there and one back.
//
// Usage: tasks_bench [--port=N] [--runs=3] [--scale=1.0]

#include <atomic>
#include <thread>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "bench/pool_nodes.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

constexpr size_t concurrency = 50;
constexpr size_t workers = 4;

double us_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0)
    .count();
}

/// Returns the payload doubled, as BullMQ's benchmark job does.
struct doubler : task_handler {
  caf::expected<std::string> run(const job& j) override {
    return std::to_string(2 * std::stoll(j.payload));
  }
};

/// Raw request/reply relay: jobs/s with `clients` concurrent requesters.
double raw_relay(uint16_t port, size_t n, size_t clients) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> servers;
  for (size_t s = 0; s < workers; ++s)
    servers.emplace_back([&, port] {
      auto c = connect_raw(port);
      while (!stop) {
        auto r = static_cast<redisReply*>(
          redisCommand(c, "BLMPOP 0.1 1 raw:req LEFT COUNT 64"));
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
          auto& xs = *r->element[1];
          for (size_t i = 0; i < xs.elements; ++i)
            redisAppendCommand(c, "RPUSH raw:rep:%s 1", xs.element[i]->str);
          for (size_t i = 0; i < xs.elements; ++i) {
            void* x = nullptr;
            redisGetReply(c, &x);
            freeReplyObject(x);
          }
        }
        freeReplyObject(r);
      }
      redisFree(c);
    });
  std::atomic<size_t> next{0};
  auto t0 = clock_type::now();
  std::vector<std::thread> cs;
  for (size_t t = 0; t < clients; ++t)
    cs.emplace_back([&, t, port] {
      auto c = connect_raw(port);
      auto me = std::to_string(t);
      for (auto i = next++; i < n; i = next++) {
        freeReplyObject(redisCommand(c, "RPUSH raw:req %s", me.c_str()));
        freeReplyObject(redisCommand(c, "BLPOP raw:rep:%s 5", me.c_str()));
      }
      redisFree(c);
    });
  for (auto& t : cs)
    t.join();
  auto rate = static_cast<double>(n) / (us_since(t0) / 1e6);
  stop = true;
  for (auto& t : servers)
    t.join();
  return rate;
}

/// Raw latency: RPUSH -> BLPOP on a server thread, RPUSH back -> BLPOP.
std::vector<double> raw_round_trips(uint16_t port, size_t n) {
  std::atomic<bool> stop{false};
  std::thread server{[&] {
    auto c = connect_raw(port);
    while (!stop) {
      auto r = static_cast<redisReply*>(
        redisCommand(c, "BLPOP raw:lreq 0.1"));
      if (r && r->type == REDIS_REPLY_ARRAY)
        freeReplyObject(redisCommand(c, "RPUSH raw:lrep 1"));
      freeReplyObject(r);
    }
    redisFree(c);
  }};
  auto c = connect_raw(port);
  std::vector<double> xs;
  for (size_t i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    freeReplyObject(redisCommand(c, "RPUSH raw:lreq 1"));
    freeReplyObject(redisCommand(c, "BLPOP raw:lrep 5"));
    xs.push_back(us_since(t0));
  }
  stop = true;
  server.join();
  redisFree(c);
  return xs;
}

pool_options bench_options() {
  pool_options o;
  o.worker_ttl = 3s;
  o.ack_grace_period = 2s;
  o.job_sink_block_duration = 1s;
  o.max_queued_jobs = 0;
  return o;
}

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto n = static_cast<size_t>(20000 * tgt.scale);
  auto lat_n = static_cast<size_t>(2000 * tgt.scale);
  std::vector<double> tput, raw_tput, p50, p99, raw50, raw99, rated_tput;
  size_t failed = 0;
  {
    caf::actor_system sys{cfg};
    auto rt_workers = runtime::start(sys, tgt.runtime_options());
    auto rt_client = runtime::start(sys, tgt.runtime_options());
    if (!rt_workers || !rt_client) {
      std::fprintf(stderr, "cannot start runtime\n");
      return 1;
    }
    for (int run = 0; run < tgt.runs; ++run) {
      auto pool = "tasks-" + std::to_string(run);
      auto nodes
        = add_pool_nodes(**rt_workers, **rt_client, pool, bench_options());
      if (!nodes)
        return 1;
      auto& wn = nodes->workers;
      auto& cn = nodes->client;
      for (size_t i = 0; i < workers; ++i)
        wn->add_worker(std::make_shared<doubler>());
      // 1. Completed jobs/s with a result, 50 waiting dispatchers.
      std::atomic<size_t> next{0}, bad{0};
      auto t0 = clock_type::now();
      std::vector<std::thread> ts;
      for (size_t t = 0; t < concurrency; ++t)
        ts.emplace_back([&] {
          for (auto i = next++; i < n; i = next++)
            if (!cn->dispatch_and_wait("c" + std::to_string(i),
                                          std::to_string(i), 10s))
              ++bad;
        });
      for (auto& t : ts)
        t.join();
      tput.push_back(static_cast<double>(n) / (us_since(t0) / 1e6));
      failed += bad;
      raw_tput.push_back(raw_relay(tgt.port, n, concurrency));
      // 2. Dispatch -> completed latency, one at a time.
      std::vector<double> lat;
      for (size_t i = 0; i < lat_n; ++i) {
        auto t1 = clock_type::now();
        if (!cn->dispatch_and_wait("l" + std::to_string(i), "1", 10s))
          ++failed;
        lat.push_back(us_since(t1));
      }
      p50.push_back(quantile(lat, 0.5));
      p99.push_back(quantile(lat, 0.99));
      auto raw = raw_round_trips(tgt.port, lat_n);
      raw50.push_back(quantile(raw, 0.5));
      raw99.push_back(quantile(raw, 0.99));
      wn->shutdown();
      // 3. The same under a rate limit far above the throughput: what
      // logging every start slot costs.
      auto ro = bench_options();
      ro.rate_limit = 1000000000;
      ro.rate_period = 1s;
      auto rpool = "rated-" + std::to_string(run);
      auto rated = add_pool_nodes(**rt_workers, **rt_client, rpool, ro);
      if (!rated)
        return 1;
      auto& rwn = rated->workers;
      auto& rcn = rated->client;
      for (size_t i = 0; i < workers; ++i)
        rwn->add_worker(std::make_shared<doubler>());
      next = 0;
      bad = 0;
      auto t2 = clock_type::now();
      ts.clear();
      for (size_t t = 0; t < concurrency; ++t)
        ts.emplace_back([&] {
          for (auto i = next++; i < n; i = next++)
            if (!rcn->dispatch_and_wait("r" + std::to_string(i),
                                           std::to_string(i), 10s))
              ++bad;
        });
      for (auto& t : ts)
        t.join();
      rated_tput.push_back(static_cast<double>(n) / (us_since(t2) / 1e6));
      failed += bad;
      rwn->shutdown();
    }
  }
  if (failed > 0)
    std::fprintf(stderr, "%zu dispatch_and_wait calls failed\n", failed);
  auto extra = fmt::format("\"jobs\":{},\"concurrency\":{},\"workers\":{}", n,
                           concurrency, workers);
  report("tasks", "completed_c50_with_result_jobs_per_s", median(tput),
         "raw_request_reply_relay_c50_jobs_per_s", median(raw_tput), true,
         extra);
  report("tasks", "dispatch_to_completed_p50_us", median(p50),
         "raw_rpush_blpop_round_trip_p50_us", median(raw50), false);
  report("tasks", "dispatch_to_completed_p99_us", median(p99),
         "raw_rpush_blpop_round_trip_p99_us", median(raw99), false);
  report("tasks", "completed_c50_rate_limited_jobs_per_s", median(rated_tput),
         "completed_c50_with_result_jobs_per_s", median(tput), true);
  return failed > 0 ? 1 : 0;
}
