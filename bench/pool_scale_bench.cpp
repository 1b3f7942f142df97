// Pool workers by count: what a node with N workers costs the process and
// Redis, and what it dispatches. For each N (`--counts=1,10,100,1000,10000`
// by default; about a minute on 2 cores) one runtime's node gets N workers, and
// the bench prints one JSON line per figure:
// - threads: every thread of the process (/proc/self/task) with N idle
//   workers (baseline: the same count before the node was made);
// - redis_connections: `CLIENT LIST` lines minus the bench's own counting
//   connection (baseline: the count before the node was made);
// - rss_kb_per_worker: VmRSS growth from adding the workers and idling
//   1 s, divided by N (baseline: 10 KB, the target);
// - add_workers_ms: the time to add the N workers (baseline: 1 s for
//   1,000 workers, scaled to N);
// - idle_cpu_pct: utime+stime of the process over 2 s of idling
//   (`--idle-seconds`; the kernel counts in 10 ms ticks, so 2 s resolve
//   0.5 %), in percent of one core (baseline: 1 %);
// - dispatch_jobs_per_s: a fixed number of jobs with distinct keys
//   (`dispatch_async`, 2000 in flight), spread over the N workers by the
//   pool's hashing, from the node itself (baseline: the same with 4 workers
//   measured first in this run).
//
// Usage: pool_scale_bench [--port=N] [--scale=1.0] [--counts=1,10,100,1000,10000]
//        [--idle-seconds=2]

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <dirent.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "bench/process_stats.hpp"
#include "bench/dispatch_rate.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

/// Does nothing (a started job just stays running until shutdown).
class scale_noop_handler : public job_handler {
public:
  caf::error start(const job&) override {
    return caf::none;
  }
  caf::error stop(const std::string&) override {
    return caf::none;
  }
};

struct scale_figures {
  size_t threads = 0, threads_before = 0;
  size_t conns = 0, conns_before = 0;
  double rss_per_worker_kb = 0, add_ms = 0, idle_cpu_pct = 0, jobs_per_s = 0;
};

pool_options scale_options() {
  pool_options o;
  o.max_queued_jobs = 0; // no admission limit while measuring
  // The intake's `BLMPOP` keeps the default block duration (5 s): each
  // re-arm covers every queue, so a shorter one costs idle CPU in
  // proportion to the worker count (docs/benchmarks.md).
  return o;
}

/// One node with `workers` workers on `rt`; returns its figures.
caf::expected<scale_figures> measure(services& rt, redisContext* admin,
                                     const std::string& pool, size_t workers,
                                     size_t jobs, double idle_s) {
  scale_figures f;
  // The previous node's threads and connections end asynchronously: wait
  // (up to 5 s) until both counts held still for 300 ms.
  auto settle_until = clock_type::now() + 5s;
  for (size_t same = 0, last = 0; same < 3 && clock_type::now() < settle_until;) {
    std::this_thread::sleep_for(100ms);
    auto now = thread_count() * 100000 + redis_clients(admin);
    same = now == last ? same + 1 : 0;
    last = now;
  }
  f.threads_before = thread_count();
  f.conns_before = redis_clients(admin);
  auto node = pool_node::add_node(rt, pool, scale_options());
  if (!node)
    return node.error();
  std::this_thread::sleep_for(200ms);
  auto rss0 = rss_kb();
  auto h = std::make_shared<scale_noop_handler>();
  auto t0 = clock_type::now();
  if (auto ids = (*node)->add_workers(h, workers); !ids)
    return ids.error();
  f.add_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0)
               .count();
  std::this_thread::sleep_for(1s); // idle
  f.rss_per_worker_kb = (rss_kb() - rss0) / static_cast<double>(workers);
  f.threads = thread_count();
  f.conns = redis_clients(admin);
  auto c0 = cpu_seconds();
  auto t1 = clock_type::now();
  std::this_thread::sleep_for(std::chrono::duration<double>{idle_s});
  auto wall = std::chrono::duration<double>(clock_type::now() - t1).count();
  f.idle_cpu_pct = 100.0 * (cpu_seconds() - c0) / wall;
  f.jobs_per_s = dispatch_rate(**node, jobs, "job-");
  (*node)->shutdown(); // stops every job and deletes the pool's keys
  node->reset();
  return f;
}

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  std::vector<size_t> counts{1, 10, 100, 1000, 10000};
  double idle_s = 2;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--idle-seconds=", 0) == 0)
      idle_s = std::stod(arg.substr(15));
    if (arg.rfind("--counts=", 0) == 0) {
      counts.clear();
      std::istringstream in{arg.substr(9)};
      for (std::string x; std::getline(in, x, ',');)
        if (!x.empty())
          counts.push_back(std::stoul(x));
    }
  }
  auto jobs = static_cast<size_t>(20000 * tgt.scale);
  auto admin = connect_raw(tgt.port);
  auto o = tgt.runtime_options();
  caf::actor_system sys{cfg};
  auto rt = runtime::start(sys, o);
  if (!rt) {
    std::fprintf(stderr, "cannot start runtime\n");
    return 1;
  }
  auto base = measure(**rt, admin, "scale-base", 4, jobs, idle_s);
  if (!base) {
    std::fprintf(stderr, "4-worker baseline: %s\n",
                 render(base.error()).c_str());
    return 1;
  }
  for (auto n : counts) {
    auto f = measure(**rt, admin, "scale-" + std::to_string(n), n, jobs, idle_s);
    if (!f) {
      std::fprintf(stderr, "%zu workers: %s\n", n, render(f.error()).c_str());
      return 1;
    }
    auto extra = fmt::format("\"workers\":{},\"jobs\":{},\"loadavg\":{:.2f}",
                             n, jobs, load_average());
    auto dn = static_cast<double>(n);
    report("pool_scale", "threads", static_cast<double>(f->threads),
           "threads_before_node", static_cast<double>(f->threads_before),
           false, extra);
    report("pool_scale", "redis_connections", static_cast<double>(f->conns),
           "redis_connections_before_node",
           static_cast<double>(f->conns_before), false, extra);
    report("pool_scale", "rss_kb_per_worker", f->rss_per_worker_kb,
           "target_kb_per_worker", 10, false, extra);
    report("pool_scale", "add_workers_ms", f->add_ms, "target_ms",
           1000.0 * dn / 1000.0, false, extra);
    report("pool_scale", "idle_cpu_pct_of_core", f->idle_cpu_pct,
           "target_pct", 1, false, extra);
    report("pool_scale", "dispatch_jobs_per_s", f->jobs_per_s,
           "dispatch_jobs_per_s_4_workers", base->jobs_per_s, true, extra);
  }
  redisFree(admin);
  return 0;
}
