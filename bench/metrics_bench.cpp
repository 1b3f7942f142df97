// Metrics endpoint benchmark: time to serve GET /metrics with 10 sinks, 10
// replicas and 1 pool node (one worker, 100 running jobs) alive, against the
// same request on a runtime with nothing spawned, in the same run; and the
// gateway's throughput (4 threads x batches of 100 SETs) while /metrics is
// scraped every 100 ms against no scraping, alternating, in the same run;
// and the same load on a runtime with the endpoint on and scraped every
// second against a runtime with metrics off (no port), alternating.
//
// Usage: metrics_bench [--port=N] [--runs=3] [--scale=1.0]

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include "bench/common.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/redis_server.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

struct noop_handler : job_handler {
  caf::error start(const job&) override { return caf::none; }
  caf::error stop(const std::string&) override { return caf::none; }
};

/// Milliseconds per GET of `path` (one fresh connection each, as
/// Prometheus' first scrape), `n` times; also returns the body size.
std::vector<double> scrape(uint16_t port, const char* path, size_t n,
                           size_t& bytes) {
  std::vector<double> ms;
  for (size_t i = 0; i < n; ++i) {
    httplib::Client c{"127.0.0.1", port};
    c.set_keep_alive(false);
    auto t0 = clock_type::now();
    auto r = c.Get(path);
    auto dt = std::chrono::duration<double, std::milli>(clock_type::now() - t0);
    if (!r || r->status != 200) {
      std::fprintf(stderr, "scrape of %s failed\n", path);
      std::exit(1);
    }
    bytes = r->body.size();
    ms.push_back(dt.count());
  }
  return ms;
}

/// SETs per second through `rt`'s shared gateway for `d`: 4 threads, each
/// sending batches of 100 SETs (blocking client). With `scrape_port` set, a
/// fifth thread GETs /metrics every `every` meanwhile.
double set_rate(runtime& rt, std::chrono::milliseconds d,
                uint16_t scrape_port,
                std::chrono::milliseconds every = std::chrono::milliseconds{100}) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ops{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      client c{rt.system(), rt.gateway(), std::chrono::seconds{10}};
      std::vector<command> cmds;
      for (int i = 0; i < 100; ++i)
        cmds.push_back(
          make_command("SET", fmt::format("mb:{}:{}", t, i), "v"));
      while (!stop)
        if (c.batch(cmds))
          ops += cmds.size();
    });
  std::thread scraper;
  if (scrape_port != 0)
    scraper = std::thread{[&] {
      while (!stop) {
        httplib::Client c{"127.0.0.1", scrape_port};
        c.Get("/metrics");
        for (auto slept = std::chrono::milliseconds{0}; slept < every && !stop;
             slept += std::chrono::milliseconds{10})
          std::this_thread::sleep_for(std::chrono::milliseconds{10});
      }
    }};
  auto t0 = clock_type::now();
  std::this_thread::sleep_for(d);
  auto n0 = ops.load();
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  stop = true;
  for (auto& t : threads)
    t.join();
  if (scraper.joinable())
    scraper.join();
  return static_cast<double>(n0) / secs;
}

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto n = static_cast<size_t>(50 * tgt.scale);
  std::vector<double> full50, full90, empty50, scraped, quiet, on, off;
  size_t full_bytes = 0, empty_bytes = 0;
  for (int run = 0; run < tgt.runs; ++run) {
    caf::actor_system sys{cfg};
    auto o = tgt.runtime_options();
    o.metrics.port = free_loopback_port();
    auto empty = runtime::start(sys, o);
    o.metrics.port = free_loopback_port();
    auto rt = runtime::start(sys, o);
    o.metrics.port = 0;
    auto dark = runtime::start(sys, o); // metrics off: no endpoint
    if (!rt || !empty || !dark) {
      std::fprintf(stderr, "cannot start runtime\n");
      return 1;
    }
    std::vector<sink_actor> sinks;
    for (int i = 0; i < 10; ++i) {
      auto s = spawn_sink(**rt, fmt::format("bench-sink-{}-{}", run, i),
                          {fmt::format("bench-stream-{}-{}", run, i)});
      if (!s) {
        std::fprintf(stderr, "sink: %s\n", render(s.error()).c_str());
        return 1;
      }
      sinks.push_back(*s);
    }
    std::vector<std::shared_ptr<rmap::map>> maps;
    for (int i = 0; i < 10; ++i) {
      auto m = rmap::map::join(**rt, fmt::format("bench-map-{}-{}", run, i));
      if (!m) {
        std::fprintf(stderr, "map: %s\n", render(m.error()).c_str());
        return 1;
      }
      (*m)->set("k", "v");
      maps.push_back(*m);
    }
    auto node = pool_node::add_node(**rt, fmt::format("bench-pool-{}", run));
    if (!node || !(*node)->add_worker(std::make_shared<noop_handler>())) {
      std::fprintf(stderr, "pool node failed\n");
      return 1;
    }
    for (int i = 0; i < 100; ++i)
      (*node)->dispatch(fmt::format("job-{}", i), "p");
    scrape((*rt)->metrics_port(), "/metrics", 3, full_bytes); // warm up
    auto full = scrape((*rt)->metrics_port(), "/metrics", n, full_bytes);
    auto base = scrape((*empty)->metrics_port(), "/metrics", n, empty_bytes);
    full50.push_back(median(full));
    full90.push_back(quantile(full, 0.9));
    empty50.push_back(median(base));
    // Throughput with and without scraping, alternating (ABBA).
    auto d = std::chrono::milliseconds{static_cast<int>(1500 * tgt.scale)};
    auto port = (*rt)->metrics_port();
    for (int k = 0; k < 2; ++k) {
      bool first_on = k == 1;
      auto a = set_rate(**rt, d, first_on ? port : 0);
      auto b = set_rate(**rt, d, first_on ? 0 : port);
      (first_on ? scraped : quiet).push_back(a);
      (first_on ? quiet : scraped).push_back(b);
    }
    // Metrics on (scraped every second) against off, two runtimes (ABBA).
    for (int k = 0; k < 2; ++k) {
      bool first_on = k == 1;
      auto a = first_on ? set_rate(**rt, d, port, std::chrono::seconds{1})
                        : set_rate(**dark, d, 0);
      auto b = first_on ? set_rate(**dark, d, 0)
                        : set_rate(**rt, d, port, std::chrono::seconds{1});
      (first_on ? on : off).push_back(a);
      (first_on ? off : on).push_back(b);
    }
    (*node)->close();
    for (auto& m : maps)
      m->close();
    for (auto& s : sinks)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }
  report("metrics", "scrape_ms_p50_10sinks_10maps_1pool", median(full50),
         "scrape_ms_p50_empty_runtime", median(empty50), false,
         fmt::format("\"p90_ms\":{:.3f},\"bytes\":{},\"empty_bytes\":{}",
                     median(full90), full_bytes, empty_bytes));
  report("metrics", "set_ops_per_s_scraped_every_100ms", median(scraped),
         "set_ops_per_s_not_scraped", median(quiet), true,
         fmt::format("\"samples\":{}", scraped.size()));
  report("metrics", "set_ops_per_s_metrics_on_scraped_every_1s", median(on),
         "set_ops_per_s_metrics_off", median(off), true,
         fmt::format("\"samples\":{}", on.size()));
  return 0;
}
