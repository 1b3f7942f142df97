// Worker-pool benchmark: dispatch -> worker start -> dispatch returns, as
// throughput with many concurrent dispatches and as latency at light load,
// each next to a raw hiredis baseline measured in the same run:
// - throughput: a raw list relay (RPUSH pipelined 50 deep on one
//   connection, a consumer draining with BLMPOP COUNT 256 on another),
//   the floor of any Redis job queue that hands a job to a consumer;
// - latency: RPUSH on one connection -> BLPOP wakes on another; and the
//   same hop with the pool's own dispatch script in place of the RPUSH
//   (Redis's share of a dispatch, which Pulse cannot save); both also paced
//   as the latency phase is, one call per millisecond.
//
// Usage: pool_bench [--port=N] [--runs=3] [--scale=1.0]
//        [--only=blocking,raw,async,actor,latency]

#include <atomic>
#include <functional>
#include <future>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "bench/dispatch_rate.hpp"
#include "bench/pool_nodes.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

double us_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0)
    .count();
}

/// A handler that does nothing but note when the last start happened.
class noop_handler : public job_handler {
public:
  std::atomic<int64_t> last_start{0};

  caf::error start(const job&) override {
    last_start = clock_type::now().time_since_epoch().count();
    return caf::none;
  }

  caf::error stop(const std::string&) override {
    return caf::none;
  }
};

// Raw relay: jobs/s from the first RPUSH until the consumer popped all.
double raw_relay(uint16_t port, size_t n) {
  auto prod = connect_raw(port);
  auto cons = connect_raw(port);
  freeReplyObject(redisCommand(prod, "DEL raw:relay"));
  std::atomic<size_t> got{0};
  auto t0 = clock_type::now();
  std::thread consumer{[&] {
    while (got < n) {
      auto r = static_cast<redisReply*>(
        redisCommand(cons, "BLMPOP 1 1 raw:relay LEFT COUNT 256"));
      if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        got += r->element[1]->elements;
      freeReplyObject(r);
    }
  }};
  for (size_t done = 0; done < n;) {
    auto k = std::min<size_t>(50, n - done);
    for (size_t i = 0; i < k; ++i)
      redisAppendCommand(prod, "RPUSH raw:relay job-%s",
                         std::to_string(done + i).c_str());
    for (size_t i = 0; i < k; ++i) {
      void* r = nullptr;
      redisGetReply(prod, &r);
      freeReplyObject(r);
    }
    done += k;
  }
  consumer.join();
  auto rate = static_cast<double>(n) / (us_since(t0) / 1e6);
  redisFree(prod);
  redisFree(cons);
  return rate;
}

// Raw handoff latency: RPUSH -> BLPOP returns on the consumer. With
// `dispatch_script`, the producer runs the pool's own `dispatch_many`
// script instead (one job per call, as a light-load dispatch does: the
// record, payload, counters, owner set and queue entry) on a pool named
// `rawhop` that has no members, and the consumer blocks on the queue of the
// worker it names. With `paced`, the producer waits for the hop by
// sleeping and sends one call per millisecond, as the latency phase
// dispatches (see `dispatch_to_handler_start_p50_us_against_a_paced_hop`);
// else it spins until the consumer wakes and sends the next call at once.
double raw_handoff_p50(uint16_t port, size_t n, double* p99,
                       bool dispatch_script = false, bool paced = false) {
  auto prod = connect_raw(port);
  auto cons = connect_raw(port);
  auto pfx = pool_scripts::pool_prefix("rawhop");
  auto queue = dispatch_script ? pfx + "q:raw-worker" : "raw:handoff";
  // The script call's arguments up to the job (KEYS: the prefix; ARGV:
  // node, membership revision (none yet), no admission limit), built once,
  // outside the timed loop.
  std::vector<std::string> head;
  if (dispatch_script) {
    auto& src = pool_scripts::dispatch_many().source;
    auto r = static_cast<redisReply*>(
      redisCommand(prod, "SCRIPT LOAD %b", src.data(), src.size()));
    head = {"EVALSHA", r && r->str ? r->str : ""};
    freeReplyObject(r);
    auto keys = pool_scripts::script_keys(pfx);
    head.push_back(std::to_string(keys.size()));
    head.insert(head.end(), keys.begin(), keys.end());
    for (auto x : {"bench", "0", "0"})
      head.emplace_back(x);
  }
  std::atomic<int64_t> woke{0};
  std::atomic<bool> stop{false};
  std::thread consumer{[&] {
    while (!stop) {
      auto r = static_cast<redisReply*>(
        redisCommand(cons, "BLPOP %s 0.2", queue.c_str()));
      if (r && r->type == REDIS_REPLY_ARRAY)
        woke = clock_type::now().time_since_epoch().count();
      freeReplyObject(r);
    }
  }};
  std::this_thread::sleep_for(50ms);
  std::vector<double> us;
  for (size_t i = 0; i < n; ++i) {
    woke = 0;
    // One job: key, payload, dispatch ID, target, options.
    auto args = head;
    if (dispatch_script)
      for (auto x : {"raw-" + std::to_string(i), std::string{"p"},
                     std::string{}, std::string{"raw-worker"}, std::string{}})
        args.push_back(x);
    auto t0 = clock_type::now();
    if (dispatch_script) {
      freeReplyObject(command_raw(prod, args));
    } else {
      freeReplyObject(redisCommand(prod, "RPUSH raw:handoff x"));
    }
    if (paced) {
      std::this_thread::sleep_for(1ms);
      while (woke == 0)
        std::this_thread::sleep_for(100us);
    } else {
      while (woke == 0)
        std::this_thread::yield();
    }
    us.push_back(std::chrono::duration<double, std::micro>(
                   clock_type::duration{woke.load()} - t0.time_since_epoch())
                   .count());
  }
  stop = true;
  consumer.join();
  if (dispatch_script)
    for (auto key : {"jobs", "payloads", "queued", "epoch", "owned:raw-worker",
                     "q:raw-worker"})
      freeReplyObject(redisCommand(prod, "DEL %s", (pfx + key).c_str()));
  redisFree(prod);
  redisFree(cons);
  *p99 = quantile(us, 0.99);
  return quantile(us, 0.5);
}

pool_options bench_options() {
  pool_options o;
  o.max_queued_jobs = 0; // no admission limit while measuring
  o.job_sink_block_duration = 1s;
  if (auto* b = std::getenv("POOL_BATCH"))
    o.max_batch = std::stoul(b);
  return o;
}

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto n = static_cast<size_t>(20000 * tgt.scale);
  auto lat_n = static_cast<size_t>(2000 * tgt.scale);
  constexpr size_t dispatchers = 50;
  size_t workers = 4;
  for (int i = 1; i < argc; ++i)
    if (std::string{argv[i]}.rfind("--workers=", 0) == 0)
      workers = std::stoul(std::string{argv[i]}.substr(10));
  std::vector<double> tput, async_tput, actor_tput, raw_tput, start50, start99, ret50, ret99, raw50,
    raw99, raw_script50, paced50, paced_script50;
  auto o = tgt.runtime_options();
  {
    caf::actor_system sys{cfg};
    auto rt_workers = runtime::start(sys, o);
    auto rt_client = runtime::start(sys, o); // the dispatching "process"
    if (!rt_workers || !rt_client) {
      std::fprintf(stderr, "cannot start runtime\n");
      return 1;
    }
    for (int run = 0; run < tgt.runs; ++run) {
      auto pool = "bench-" + std::to_string(run);
      auto nodes
        = add_pool_nodes(**rt_workers, **rt_client, pool, bench_options());
      if (!nodes)
        return 1;
      auto& wn = nodes->workers;
      auto& cn = nodes->client;
      auto h = std::make_shared<noop_handler>();
      for (size_t i = 0; i < workers; ++i)
        if (!wn->add_worker(h)) {
          std::fprintf(stderr, "add_worker failed\n");
          return 1;
        }
      // `--only=blocking,raw,async,actor,latency` runs only those phases.
      auto want = [&](const char* phase) { return tgt.wants(phase); };
      // 1. Throughput: 50 threads dispatching distinct keys.
      std::atomic<size_t> next{0}, failed{0};
      auto t0 = clock_type::now();
      std::vector<std::thread> ts;
      for (size_t t = 0; t < (want("blocking") ? dispatchers : 0); ++t)
        ts.emplace_back([&] {
          for (auto i = next++; i < n; i = next++)
            if (cn->dispatch("job-" + std::to_string(i), "payload"))
              ++failed;
        });
      for (auto& t : ts)
        t.join();
      if (want("blocking"))
        tput.push_back(static_cast<double>(n) / (us_since(t0) / 1e6));
      if (failed > 0)
        std::fprintf(stderr, "%zu dispatches failed\n", failed.load());
      if (want("raw"))
        raw_tput.push_back(raw_relay(tgt.port, n));
      // 1b. Throughput with dispatch_async: one thread, 2000 in flight.
      if (want("async"))
        async_tput.push_back(dispatch_rate(*cn, n, "async-"));
      // 1c. Throughput from an event-based actor: `dispatch_atom` requests
      // to the node actor, 2000 in flight, no blocking call.
      if (want("actor")) {
        std::promise<double> result;
        auto t3 = clock_type::now();
        sys.spawn([&, node = cn->actor()](caf::event_based_actor* self) {
          auto sent = std::make_shared<size_t>(0);
          auto done = std::make_shared<size_t>(0);
          auto send_one = std::make_shared<std::function<void()>>();
          *send_one = [=, &result] {
            auto i = (*sent)++;
            self
              ->request(node, caf::infinite, dispatch_atom::value,
                        "actor-" + std::to_string(i), std::string{"payload"})
              .then(
                [=, &result](bool) {
                  if (++*done == n) {
                    result.set_value(us_since(t3));
                    *send_one = nullptr; // breaks the self-reference
                  } else if (*sent < n) {
                    (*send_one)();
                  }
                },
                [=](caf::error& err) {
                  std::fprintf(stderr, "actor dispatch: %s\n",
                               render(err).c_str());
                });
          };
          for (size_t i = 0; i < std::min<size_t>(2000, n); ++i)
            (*send_one)();
        });
        actor_tput.push_back(static_cast<double>(n)
                             / (result.get_future().get() / 1e6));
      }
      // 2. Latency at light load: one dispatch at a time.
      std::vector<double> to_start, to_return;
      for (size_t i = 0; i < (want("latency") ? lat_n + 100 : 0); ++i) {
        auto t1 = clock_type::now();
        if (auto err = cn->dispatch("lat-" + std::to_string(i), "p")) {
          std::fprintf(stderr, "dispatch: %s\n", render(err).c_str());
          return 1;
        }
        auto done = us_since(t1);
        auto started = std::chrono::duration<double, std::micro>(
                         clock_type::duration{h->last_start.load()}
                         - t1.time_since_epoch())
                         .count();
        if (i >= 100) {
          to_start.push_back(started);
          to_return.push_back(done);
        }
        std::this_thread::sleep_for(1ms); // light load, as the peers do
      }
      if (!to_start.empty()) {
        start50.push_back(quantile(to_start, 0.5));
        start99.push_back(quantile(to_start, 0.99));
        ret50.push_back(quantile(to_return, 0.5));
        ret99.push_back(quantile(to_return, 0.99));
      }
      if (want("raw")) {
        double r99 = 0;
        raw50.push_back(raw_handoff_p50(tgt.port, lat_n, &r99));
        raw99.push_back(r99);
        raw_script50.push_back(raw_handoff_p50(tgt.port, lat_n, &r99, true));
        paced50.push_back(raw_handoff_p50(tgt.port, lat_n, &r99, false, true));
        paced_script50.push_back(
          raw_handoff_p50(tgt.port, lat_n, &r99, true, true));
      }
      cn->shutdown(); // stops every job and deletes the pool's keys
      wn.reset();
      cn.reset();
    }
  }
  auto extra = fmt::format("\"runs\":{},\"dispatchers\":{},\"workers\":{}",
                           tgt.runs, dispatchers, workers);
  report_medians("pool", "dispatch_to_start_returned_jobs_per_s", tput,
                 "raw_list_relay_jobs_per_s", raw_tput, true, extra);
  report_medians("pool", "dispatch_async_2000_in_flight_jobs_per_s",
                 async_tput, "raw_list_relay_jobs_per_s", raw_tput,
                 true, extra);
  report_medians("pool", "actor_dispatch_2000_in_flight_jobs_per_s",
                 actor_tput, "raw_list_relay_jobs_per_s", raw_tput,
                 true, extra);
  report_medians("pool", "dispatch_to_handler_start_p50_us", start50,
                 "raw_rpush_to_blpop_p50_us", raw50, false, extra);
  report_medians("pool", "dispatch_to_handler_start_p50_us_against_the_script",
                 start50, "raw_dispatch_script_to_blpop_p50_us",
                 raw_script50, false, extra);
  // The same hops paced as the latency phase is (one call per ms, the
  // producer asleep meanwhile): on a virtual machine an idle core wakes
  // slowly, and a script runs several times slower on it than back to back.
  report_medians("pool", "dispatch_to_handler_start_p50_us_against_a_paced_hop",
                 start50, "raw_rpush_to_blpop_paced_p50_us", paced50,
                 false, extra);
  report_medians("pool",
                 "dispatch_to_handler_start_p50_us_against_the_paced_script",
                 start50, "raw_dispatch_script_to_blpop_paced_p50_us",
                 paced_script50, false, extra);
  report_medians("pool", "dispatch_to_handler_start_p99_us", start99,
                 "raw_rpush_to_blpop_p99_us", raw99, false, extra);
  report_medians("pool", "dispatch_returned_p50_us", ret50,
                 "raw_rpush_to_blpop_p50_us", raw50, false, extra);
  report_medians("pool", "dispatch_returned_p99_us", ret99,
                 "raw_rpush_to_blpop_p99_us", raw99, false, extra);
  return 0;
}
