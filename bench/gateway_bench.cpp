// Gateway benchmark: throughput with many requests in flight, batch
// throughput, and single-request latency, each next to a baseline measured
// in the same run on the same Redis.
//
// Usage: gateway_bench [--port=N] [--runs=3] [--scale=1.0]
//        [--only=raw,raw_depth,raw_window,redis_benchmark,set64,set128,set800,set3200,batch,latency]
//        [--work-stealing.<option>=...] [--scheduler.<option>=...]
// Output: one JSON object per line (see bench/common.hpp).

#include <map>

#include <caf/all.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/reader_crew.hpp"
#include "bench/common.hpp"
#include "bench/set_load.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"

#include <fmt/format.h>

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

// Returns ops/s for `actors` load actors, each with `window` requests in
// flight (batch: each request carries `batch_size` commands).
double run_load(caf::actor_system& sys, const gateway_actor& gw,
                size_t total_ops, size_t actors, size_t window, bool batch,
                size_t batch_size) {
  return set_load(sys, gw, total_ops, actors, window, 1,
                  batch ? batch_size : 0, 60s);
}

// p50/p99 round trip (µs) of PING, one request at a time, from a blocking
// client (a plain thread using the facade).
std::pair<double, double> blocking_latency(caf::actor_system& sys,
                                           const gateway_actor& gw, size_t n) {
  client c{sys, gw, 5s};
  for (int i = 0; i < 200; ++i)
    c("PING");
  std::vector<double> us;
  us.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    c("PING");
    us.push_back(std::chrono::duration<double, std::micro>(clock_type::now()
                                                           - t0)
                   .count());
  }
  return {quantile(us, 0.5), quantile(us, 0.99)};
}

// Same from an event-based actor: each reply triggers the next request.
double actor_latency(caf::actor_system& sys, const gateway_actor& gw,
                     size_t n) {
  auto samples = std::make_shared<std::vector<double>>();
  samples->reserve(n);
  auto pinger = sys.spawn([=](caf::event_based_actor* self) {
    auto next = std::make_shared<std::function<void(size_t)>>();
    auto rp = std::make_shared<caf::response_promise>();
    *next = [=](size_t left) {
      if (left == 0) {
        rp->deliver(true);
        *next = nullptr;
        return;
      }
      auto t0 = clock_type::now();
      self->request(gw, caf::infinite, cmd_atom::value, make_command("PING"))
        .then(
          [=](const resp::value&) {
            samples->push_back(std::chrono::duration<double, std::micro>(
                                 clock_type::now() - t0)
                                 .count());
            (*next)(left - 1);
          },
          [=](caf::error&) { (*next)(0); });
    };
    return caf::behavior{
      [=](load_go_atom) {
        *rp = self->make_response_promise();
        (*next)(n);
      },
    };
  });
  caf::scoped_actor self{sys};
  self->send(pinger, load_go_atom::value);
  self->receive([](bool) {}, caf::after(60s) >> [] {});
  self->send_exit(pinger, caf::exit_reason::user_shutdown);
  return quantile(*samples, 0.5);
}

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto n = static_cast<size_t>(200000 * tgt.scale);
  std::vector<double> gw_3200;
  // Raw baselines at each shape's depth: lock-step loop and sliding window.
  constexpr size_t depths[] = {64, 128, 800, 3200};
  std::map<size_t, std::vector<double>> lock_step, window;
  std::vector<double> gw_64;
  std::vector<double> raw, rb16, gw_128, gw_800, gw_batch, lat_blocking,
    lat_blocking99, lat_actor, rb_ping_p50;
  {
    caf::actor_system sys{cfg};
    auto ro = tgt.runtime_options().redis; // with any --pulse.redis.*
    ro.host = "127.0.0.1";
    ro.port = tgt.port;
    ro.command_timeout = 30s;
    auto gw = spawn_gateway(sys, ro);
    {
      client c{sys, gw, 5s};
      c("FLUSHALL");
    }
    for (int run = 0; run < tgt.runs; ++run) {
      auto set_cmd = [](size_t i) {
        return std::vector<std::string>{"SET", "k" + std::to_string(i % 1000),
                                        "v"};
      };
      if (tgt.wants("raw"))
        raw.push_back(raw_pipelined(tgt.port, n, 1000, set_cmd));
      for (auto depth : depths) {
        if (tgt.wants("raw_depth"))
          lock_step[depth].push_back(
            raw_pipelined(tgt.port, n, depth, set_cmd));
        if (tgt.wants("raw_window"))
          window[depth].push_back(raw_window(tgt.port, n, depth, set_cmd));
      }
      if (tgt.wants("redis_benchmark"))
        rb16.push_back(redis_benchmark(
          tgt.port, fmt::format("-t set -n {} -P 16 -c 50", n), "SET", "rps"));
      if (tgt.wants("set64"))
        gw_64.push_back(run_load(sys, gw, n, 4, 16, false, 1));
      if (tgt.wants("set128"))
        gw_128.push_back(run_load(sys, gw, n, 8, 16, false, 1));
      if (tgt.wants("set800"))
        gw_800.push_back(run_load(sys, gw, n, 50, 16, false, 1));
      if (tgt.wants("set3200"))
        gw_3200.push_back(run_load(sys, gw, n, 100, 32, false, 1));
      if (tgt.wants("batch"))
        gw_batch.push_back(run_load(sys, gw, n, 4, 2, true, 100));
      if (tgt.wants("latency")) {
        auto [p50, p99] = blocking_latency(sys, gw, 20000);
        lat_blocking.push_back(p50);
        lat_blocking99.push_back(p99);
        lat_actor.push_back(actor_latency(sys, gw, 20000));
        rb_ping_p50.push_back(
          1000.0
          * redis_benchmark(tgt.port, "-t ping -n 50000 -c 1 -P 1",
                            "PING_MBULK", "p50_latency_ms"));
      }
    }
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  }
  // How often a reader thread's runs of woken actors outlasted the bound
  // and another thread took over reading (the whole process, every phase).
  auto runs = fmt::format("\"runs\":{},\"reader_takeovers\":{}", tgt.runs,
                          detail::reader_crew::takeovers());
  report_medians("gateway", "set_64_in_flight_ops_per_s", gw_64,
                 "raw_hiredis_pipelined_ops_per_s", raw, true,
                 runs + ",\"shape\":\"4 actors x 16 in flight\"");
  report_medians("gateway", "set_128_in_flight_ops_per_s", gw_128,
                 "raw_hiredis_pipelined_ops_per_s", raw, true,
                 runs + ",\"shape\":\"8 actors x 16 in flight\"");
  report_medians("gateway", "set_800_in_flight_ops_per_s", gw_800,
                 "raw_hiredis_pipelined_ops_per_s", raw, true,
                 runs + ",\"shape\":\"50 actors x 16 in flight\"");
  report_medians("gateway", "set_800_in_flight_ops_per_s", gw_800,
                 "redis_benchmark_P16_c50_set_rps", rb16, true, runs);
  report_medians("gateway", "set_3200_in_flight_ops_per_s", gw_3200,
                 "raw_hiredis_pipelined_ops_per_s", raw, true,
                 runs + ",\"shape\":\"100 actors x 32 in flight\"");
  // The same shapes against a raw lock-step loop at the same depth (send
  // `depth` SETs, read their replies, repeat), and against a raw client
  // keeping the same number in flight (sliding window), on one connection.
  for (auto [depth, gw] : {std::pair{size_t{64}, &gw_64},
                          std::pair{size_t{128}, &gw_128},
                          std::pair{size_t{800}, &gw_800},
                          std::pair{size_t{3200}, &gw_3200}}) {
    auto metric = fmt::format("set_{}_in_flight_ops_per_s", depth);
    report_medians(
      "gateway", metric, *gw,
      fmt::format("raw_hiredis_pipelined_depth{}_ops_per_s", depth),
      lock_step[depth], true, runs);
    report_medians("gateway", metric, *gw,
                   fmt::format("raw_hiredis_window{}_ops_per_s", depth),
                   window[depth], true, runs);
  }
  report_medians("gateway", "batch100_set_ops_per_s", gw_batch,
                 "raw_hiredis_pipelined_ops_per_s", raw, true,
                 runs + ",\"shape\":\"4 actors x 2 batches of 100 in flight\"");
  report_medians("gateway", "ping_p50_us_blocking_client", lat_blocking,
                 "redis_benchmark_c1_P1_ping_p50_us", rb_ping_p50, false,
                 runs
                   + fmt::format(",\"p99_us\":{:.1f}",
                                 median(lat_blocking99)));
  report_medians("gateway", "ping_p50_us_event_based_actor", lat_actor,
                 "redis_benchmark_c1_P1_ping_p50_us", rb_ping_p50, false,
                 runs);
  return 0;
}
