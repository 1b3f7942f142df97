// Scaling: what a process pays as it grows, each next to a same-run
// baseline.
//
// * dispatchers: 1, 10, 100, 1,000 event-based actors, each dispatching one
//   job at a time (`dispatch_atom` requests to a client-only node's actor,
//   next job when the reply came) to a node with 4 no-op workers on a second
//   runtime. Jobs/s and per-dispatch p50/p99 (request -> reply: the job
//   started and was confirmed), against a raw hiredis `RPUSH` loop keeping
//   as many commands in flight as there are dispatchers.
// * sinks: 1, 10, 100 sinks in one runtime, each on its own stream with an
//   acking subscriber, on the scheduler's threads (the default) and then
//   detached (`sink_options::detached`). Threads, Redis connections and resident memory per
//   sink, spawn time, and add -> subscriber p50 (one event at a time, each to
//   the next stream in turn) against the raw `XADD` -> `XREADGROUP BLOCK` hop.
//
// Usage: scaling_bench [--port=N] [--runs=1] [--scale=1.0]
//        [--only=dispatchers,sinks] [--dispatchers=1,10,100,1000]
//        [--sinks=1,10,100]

#include <atomic>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "bench/pool_nodes.hpp"
#include "bench/process_stats.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

/// Does nothing: a started job stays running until the pool shuts down.
class scaling_noop_handler : public job_handler {
public:
  caf::error start(const job&) override {
    return caf::none;
  }
  caf::error stop(const std::string&) override {
    return caf::none;
  }
};

/// `--name=1,10,100` as numbers, or `fallback`.
std::vector<size_t> counts_arg(int argc, char** argv, const std::string& name,
                               std::vector<size_t> fallback) {
  auto prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      std::vector<size_t> xs;
      std::string rest = argv[i] + prefix.size();
      for (size_t pos = 0; pos <= rest.size();) {
        auto comma = rest.find(',', pos);
        if (comma == std::string::npos)
          comma = rest.size();
        if (comma > pos)
          xs.push_back(std::stoul(rest.substr(pos, comma - pos)));
        pos = comma + 1;
      }
      return xs;
    }
  return fallback;
}

/// What the dispatcher actors of one measurement share.
struct dispatch_tally {
  std::mutex mtx;
  std::vector<double> us;
  std::atomic<size_t> errors{0};
  std::atomic<size_t> running{0};
  std::promise<void> done;
};

/// One dispatcher: `quota` jobs, one at a time, each timed from request to
/// reply.
void dispatcher(caf::event_based_actor* self, pool_node_actor node,
                std::string prefix, size_t quota,
                std::shared_ptr<dispatch_tally> tally) {
  auto mine = std::make_shared<std::vector<double>>();
  mine->reserve(quota);
  auto next = std::make_shared<std::function<void(size_t)>>();
  *next = [=](size_t i) {
    if (i == quota) {
      {
        std::lock_guard<std::mutex> guard{tally->mtx};
        tally->us.insert(tally->us.end(), mine->begin(), mine->end());
      }
      // Clearing `next` destroys this lambda and its captures: copy first.
      auto t = tally;
      auto me = self;
      *next = nullptr; // breaks the self-reference
      if (--t->running == 0)
        t->done.set_value();
      me->quit();
      return;
    }
    auto t0 = clock_type::now();
    self
      ->request(node, caf::infinite, dispatch_atom::value,
                prefix + std::to_string(i), std::string{"payload"})
      .then(
        [=](bool) {
          mine->push_back(std::chrono::duration<double, std::micro>(
                            clock_type::now() - t0)
                            .count());
          (*next)(i + 1);
        },
        [=](caf::error&) {
          ++tally->errors;
          (*next)(i + 1);
        });
  };
  (*next)(0);
}

struct dispatch_figures {
  double jobs_per_s = 0, p50_us = 0, p99_us = 0;
  size_t errors = 0;
};

/// `n` jobs over `d` dispatcher actors (n / d each).
dispatch_figures dispatch_with(caf::actor_system& sys,
                               const pool_node_actor& node, size_t d,
                               size_t n, const std::string& tag) {
  auto tally = std::make_shared<dispatch_tally>();
  tally->running = d;
  auto quota = std::max<size_t>(1, n / d);
  auto t0 = clock_type::now();
  for (size_t k = 0; k < d; ++k)
    sys.spawn(dispatcher, node, fmt::format("{}-{}-", tag, k), quota, tally);
  tally->done.get_future().wait();
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  dispatch_figures f;
  f.jobs_per_s = static_cast<double>(quota * d) / secs;
  f.p50_us = quantile(tally->us, 0.5);
  f.p99_us = quantile(tally->us, 0.99);
  f.errors = tally->errors;
  return f;
}

int run_dispatchers(const target& tgt, pulse::config& cfg,
                    const std::vector<size_t>& counts) {
  auto n = static_cast<size_t>(20000 * tgt.scale);
  caf::actor_system sys{cfg};
  auto o = tgt.runtime_options();
  auto rt_workers = runtime::start(sys, o);
  auto rt_client = runtime::start(sys, o);
  if (!rt_workers || !rt_client) {
    std::fprintf(stderr, "cannot start runtime\n");
    return 1;
  }
  for (int run = 0; run < tgt.runs; ++run) {
    auto pool = fmt::format("bench-scaling-{}", run);
    pool_options po;
    po.max_queued_jobs = 0; // no admission limit while measuring
    auto nodes = add_pool_nodes(**rt_workers, **rt_client, pool, po);
    if (!nodes)
      return 1;
    auto& wn = nodes->workers;
    auto& cn = nodes->client;
    auto h = std::make_shared<scaling_noop_handler>();
    for (int i = 0; i < 4; ++i)
      if (!wn->add_worker(h)) {
        std::fprintf(stderr, "add_worker failed\n");
        return 1;
      }
    // Warm-up: connections, scripts loaded.
    dispatch_with(sys, cn->actor(), 10, 1000, "warm");
    for (auto d : counts) {
      auto load = load_average();
      auto f = dispatch_with(sys, cn->actor(), d, n,
                             fmt::format("d{}", d));
      auto raw = raw_window(tgt.port, n, d, [](size_t i) {
        return std::vector<std::string>{"RPUSH", "bench:scaling:raw",
                                        std::to_string(i)};
      });
      client c{sys, (*rt_client)->gateway()};
      c("DEL", "bench:scaling:raw");
      auto extra = fmt::format(
        "\"dispatchers\":{},\"jobs\":{},\"p50_us\":{:.1f},\"p99_us\":{:.1f},"
        "\"errors\":{},\"workers\":4,\"load_average\":{:.2f},\"run\":{}",
        d, n, f.p50_us, f.p99_us, f.errors, load, run);
      report("scaling", fmt::format("actor_dispatch_jobs_per_s_{}_dispatchers",
                                    d),
             f.jobs_per_s,
             fmt::format("raw_rpush_ops_per_s_{}_in_flight", d), raw, true,
             extra);
    }
    cn->shutdown(); // stops every job and deletes the pool's keys
    wn.reset();
    cn.reset();
  }
  return 0;
}

/// Counts deliveries and acks each batch.
struct sink_arrivals {
  std::atomic<size_t> count{0};
};

caf::behavior scaling_acker(caf::event_based_actor* self, caf::actor sink,
                            std::shared_ptr<sink_arrivals> a) {
  return {
    [=](event_batch& b) {
      std::vector<std::string> ids;
      ids.reserve(b.events.size());
      for (auto& ev : b.events)
        ids.push_back(ev.id);
      if (!b.events.empty())
        self->send(sink, ack_atom::value, b.events.front().stream,
                   std::move(ids)); // one stream per sink here
      a->count += b.events.size();
      return true;
    },
  };
}

int run_sinks(const target& tgt, pulse::config& cfg,
              const std::vector<size_t>& counts) {
  auto samples = static_cast<size_t>(1000 * tgt.scale);
  auto counter = connect_raw(tgt.port);
  for (int run = 0; run < tgt.runs; ++run)
    for (auto s : counts)
      for (bool detached : {false, true}) {
      caf::actor_system sys{cfg};
      auto rt = runtime::start(sys, tgt.runtime_options());
      if (!rt) {
        std::fprintf(stderr, "cannot start runtime\n");
        return 1;
      }
      std::this_thread::sleep_for(200ms);
      auto threads0 = thread_count();
      auto conns0 = redis_clients(counter);
      auto rss0 = rss_kb();
      std::vector<sink_actor> sinks;
      std::vector<caf::actor> subs;
      std::vector<std::shared_ptr<sink_arrivals>> seen;
      sink_options so;
      so.block = 1s;
      so.detached = detached;
      auto t0 = clock_type::now();
      for (size_t i = 0; i < s; ++i) {
        auto stream_name = fmt::format("bench-scaling-{}-{}-{}-{}", run, s,
                                       detached, i);
        auto sk = spawn_sink(**rt, "scaling", {stream_name}, so);
        if (!sk) {
          std::fprintf(stderr, "sink: %s\n", render(sk.error()).c_str());
          return 1;
        }
        auto a = std::make_shared<sink_arrivals>();
        auto sub = sys.spawn(scaling_acker, caf::actor_cast<caf::actor>(*sk),
                             a);
        caf::scoped_actor self{sys};
        bool ok = false;
        self
          ->request(*sk, 5s, sub_atom::value,
                    caf::actor_cast<event_subscriber_actor>(sub))
          .receive([&](bool x) { ok = x; }, [](caf::error&) {});
        if (!ok) {
          std::fprintf(stderr, "subscribe failed\n");
          return 1;
        }
        sinks.push_back(*sk);
        subs.push_back(sub);
        seen.push_back(a);
      }
      auto spawn_ms = std::chrono::duration<double, std::milli>(
                        clock_type::now() - t0)
                        .count();
      std::this_thread::sleep_for(1s);
      auto threads = thread_count();
      auto conns = redis_clients(counter);
      auto rss = rss_kb();
      auto cpu0 = cpu_seconds();
      std::this_thread::sleep_for(2s);
      auto idle_cpu = (cpu_seconds() - cpu0) / 2.0 * 100.0;
      // add -> subscriber, one event at a time, streams in turn.
      client c{sys, (*rt)->gateway()};
      std::vector<double> us;
      for (size_t i = 0; i < samples; ++i) {
        auto k = i % s;
        auto st = stream::make(
          fmt::format("bench-scaling-{}-{}-{}-{}", run, s, detached, k));
        auto before = seen[k]->count.load();
        auto t1 = clock_type::now();
        if (!st || !st->add(c, "ev", std::to_string(i)))
          break;
        auto deadline = t1 + 5s;
        while (seen[k]->count.load() == before && clock_type::now() < deadline)
          std::this_thread::yield();
        if (seen[k]->count.load() == before)
          break; // lost: fewer samples, not a hang
        us.push_back(
          std::chrono::duration<double, std::micro>(clock_type::now() - t1)
            .count());
      }
      auto raw = raw_stream_hop_p50(tgt.port, samples);
      auto extra = fmt::format(
        "\"sinks\":{},\"detached\":{},\"threads\":{},\"threads_before\":{},\"redis_"
        "connections\":{},\"connections_before\":{},\"rss_kb_per_sink\":{:.1f},"
        "\"spawn_ms\":{:.1f},\"idle_cpu_pct\":{:.2f},\"p99_us\":{:.1f},"
        "\"samples\":{},\"load_average\":{:.2f},\"run\":{}",
        s, detached, threads, threads0, conns, conns0, (rss - rss0) / static_cast<double>(s),
        spawn_ms, idle_cpu, us.empty() ? -1.0 : quantile(us, 0.99), us.size(),
        load_average(), run);
      report("scaling",
             fmt::format("add_to_sink_p50_us_{}_sinks_{}", s,
                         detached ? "detached" : "scheduled"),
             us.empty() ? -1.0 : quantile(us, 0.5), "raw_xadd_to_xreadgroup_p50_us",
             raw, false, extra);
      for (auto& sk : sinks)
        caf::anon_send_exit(sk, caf::exit_reason::user_shutdown);
      for (auto& sub : subs)
        caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
      {
        caf::scoped_actor self{sys}; // the sinks' janitors end with them
        for (auto& sk : sinks)
          self->wait_for(sk);
      }
      c("FLUSHALL");
    }
  redisFree(counter);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  if (tgt.wants("dispatchers"))
    if (auto rc = run_dispatchers(
          tgt, cfg, counts_arg(argc, argv, "dispatchers", {1, 10, 100, 1000})))
      return rc;
  if (tgt.wants("sinks"))
    if (auto rc = run_sinks(tgt, cfg,
                            counts_arg(argc, argv, "sinks", {1, 10, 100})))
      return rc;
  return 0;
}
