// Delayed-job benchmark: how late a delayed job starts, as BullMQ's
// bullmq-tasks-bench.js measures it (500 jobs, each due 200-700 ms after it
// was added; lateness = handler start - due time, wall clock), next to a
// raw baseline measured in the same run: a thread that sleeps until each
// due time, then RPUSH on one connection -> BLPOP wakes on another (the
// floor of any timer plus one Redis hop).
//
// Two shapes: one node with 4 workers, and three nodes with 2 workers each
// (all three race to promote every job; one wins).
//
// Retries, as BullMQ's bullmq-tasks-bench.js measures them: 200 tasks that
// fail twice and succeed on the third attempt, exponential backoff from
// 100 ms (no jitter); lateness = start of attempt n - (failure of attempt
// n-1 + 100 ms * 2^(n-2)), next to the same raw floor.
//
// Usage: delayed_bench [--port=N] [--runs=3] [--scale=1.0]

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Notes the wall-clock time of each start (Unix µs) by key.
class timed_handler : public job_handler {
public:
  caf::error start(const job& j) override {
    auto t = unix_us();
    std::lock_guard<std::mutex> guard{mtx_};
    starts_.emplace(j.key, t);
    return caf::none;
  }

  caf::error stop(const std::string&) override {
    return caf::none;
  }

  size_t count() {
    std::lock_guard<std::mutex> guard{mtx_};
    return starts_.size();
  }

  std::unordered_map<std::string, int64_t> starts() {
    std::lock_guard<std::mutex> guard{mtx_};
    return starts_;
  }

private:
  std::mutex mtx_;
  std::unordered_map<std::string, int64_t> starts_;
};

/// Fails the first two attempts of each job; notes when each attempt
/// failed and started (Unix µs).
class flaky_handler : public task_handler {
public:
  caf::expected<std::string> run(const job& j) override {
    auto t = unix_us();
    std::lock_guard<std::mutex> guard{mtx_};
    auto& x = jobs_[j.key];
    x.starts.emplace_back(j.attempt, t);
    if (j.attempt <= 2) {
      x.failed.emplace_back(j.attempt, unix_us());
      return make_error(errc::handler_failed, "boom");
    }
    ++done_;
    return std::string{"ok"};
  }

  size_t done() {
    std::lock_guard<std::mutex> guard{mtx_};
    return done_;
  }

  /// Lateness (µs) of every retry against its failure + backoff.
  std::vector<double> lateness(int64_t base_us) {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<double> out;
    for (auto& [key, x] : jobs_)
      for (auto& [attempt, t] : x.starts)
        for (auto& [failed, at] : x.failed)
          if (attempt >= 2 && failed == attempt - 1)
            out.push_back(static_cast<double>(
              t - (at + base_us * (int64_t{1} << (attempt - 2)))));
    return out;
  }

private:
  struct record {
    std::vector<std::pair<uint32_t, int64_t>> starts;
    std::vector<std::pair<uint32_t, int64_t>> failed;
  };
  std::mutex mtx_;
  std::unordered_map<std::string, record> jobs_;
  size_t done_ = 0;
};

/// Delays between 200 and 700 ms, as the BullMQ benchmark draws them.
std::vector<int> delays(size_t n, unsigned seed) {
  std::mt19937 rng{seed};
  std::uniform_int_distribution<int> d{200, 699};
  std::vector<int> out(n);
  for (auto& x : out)
    x = d(rng);
  return out;
}

/// Raw floor: for each delay (in due order) sleep until due, RPUSH; a
/// consumer's BLPOP notes how late each one arrived (µs).
std::vector<double> raw_lateness(uint16_t port, std::vector<int> ds) {
  std::sort(ds.begin(), ds.end());
  auto prod = connect_raw(port);
  auto cons = connect_raw(port);
  freeReplyObject(redisCommand(prod, "DEL raw:delayed"));
  auto t0 = unix_us();
  std::vector<double> late;
  std::thread consumer{[&] {
    for (size_t i = 0; i < ds.size(); ++i) {
      auto r = static_cast<redisReply*>(
        redisCommand(cons, "BLPOP raw:delayed 5"));
      auto now = unix_us();
      if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        late.push_back(static_cast<double>(now - std::stoll(r->element[1]->str)));
      freeReplyObject(r);
    }
  }};
  for (auto d : ds) {
    auto due = t0 + int64_t{d} * 1000;
    std::this_thread::sleep_until(std::chrono::system_clock::time_point{
      std::chrono::microseconds{due}});
    freeReplyObject(redisCommand(prod, "RPUSH raw:delayed %s",
                                 std::to_string(due).c_str()));
  }
  consumer.join();
  redisFree(prod);
  redisFree(cons);
  return late;
}

pool_options bench_options() {
  pool_options o;
  o.worker_ttl = 3s;
  o.ack_grace_period = 2s;
  o.job_sink_block_duration = 1s;
  return o;
}

/// Adds `n` delayed jobs through a client-only node of `rt` to a pool of
/// `nodes` nodes with `workers` workers each; returns lateness (µs) per job.
std::vector<double> pulse_lateness(std::vector<std::unique_ptr<runtime>>& rts,
                                   const std::string& pool, size_t nodes,
                                   size_t workers, const std::vector<int>& ds) {
  std::vector<std::unique_ptr<pool_node>> ns;
  auto h = std::make_shared<timed_handler>();
  for (size_t i = 0; i < nodes; ++i) {
    auto n = pool_node::add_node(*rts[i], pool, bench_options());
    if (!n)
      throw std::runtime_error("add_node: " + render(n.error()));
    for (size_t w = 0; w < workers; ++w)
      if (!(*n)->add_worker(h))
        throw std::runtime_error("add_worker failed");
    ns.push_back(std::move(*n));
  }
  auto co = bench_options();
  co.client_only = true;
  auto c = pool_node::add_node(*rts.back(), pool, co);
  if (!c)
    throw std::runtime_error("add_node: " + render(c.error()));
  std::unordered_map<std::string, int64_t> due;
  for (size_t i = 0; i < ds.size(); ++i) {
    auto key = "d" + std::to_string(i);
    auto t = (*c)->dispatch_in(key, "x", std::chrono::milliseconds{ds[i]});
    if (!t)
      throw std::runtime_error("dispatch_in: " + render(t.error()));
    due.emplace(key, *t * 1000);
  }
  auto deadline = clock_type::now() + 10s;
  while (h->count() < ds.size() && clock_type::now() < deadline)
    std::this_thread::sleep_for(5ms);
  std::vector<double> late;
  for (auto& [key, t] : h->starts())
    late.push_back(static_cast<double>(t - due.at(key)));
  if (late.size() < ds.size())
    std::fprintf(stderr, "%zu of %zu delayed jobs started\n", late.size(),
                 ds.size());
  ns.front()->shutdown();
  return late;
}

/// Dispatches `n` flaky tasks (3 attempts, backoff from 100 ms, no jitter)
/// to one node with 4 workers; returns the retries' lateness (µs).
std::vector<double> retry_lateness(runtime& rt, const std::string& pool,
                                   size_t n) {
  auto o = bench_options();
  o.retry_base = 100ms;
  o.retry_jitter = 0;
  auto node = pool_node::add_node(rt, pool, o);
  if (!node)
    throw std::runtime_error("add_node: " + render(node.error()));
  auto h = std::make_shared<flaky_handler>();
  for (int w = 0; w < 4; ++w)
    if (!(*node)->add_worker(h))
      throw std::runtime_error("add_worker failed");
  dispatch_options d;
  d.max_attempts = 3;
  for (size_t i = 0; i < n; ++i)
    if (auto err = (*node)->dispatch("r" + std::to_string(i), "x", d))
      throw std::runtime_error("dispatch: " + render(err));
  auto deadline = clock_type::now() + 20s;
  while (h->done() < n && clock_type::now() < deadline)
    std::this_thread::sleep_for(5ms);
  if (h->done() < n)
    std::fprintf(stderr, "%zu of %zu retried jobs completed\n", h->done(), n);
  (*node)->shutdown();
  return h->lateness(100000);
}

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto n = static_cast<size_t>(500 * tgt.scale);
  std::vector<double> p50[2], p99[2], raw50, raw99, retry50, retry99;
  auto retries = static_cast<size_t>(200 * tgt.scale);
  {
    caf::actor_system sys{cfg};
    std::vector<std::unique_ptr<runtime>> rts; // three "processes" + client
    for (int i = 0; i < 4; ++i) {
      auto rt = runtime::start(sys, tgt.runtime_options());
      if (!rt) {
        std::fprintf(stderr, "cannot start runtime\n");
        return 1;
      }
      rts.push_back(std::move(*rt));
    }
    for (int run = 0; run < tgt.runs; ++run) {
      auto ds = delays(n, static_cast<unsigned>(run + 1));
      auto raw = raw_lateness(tgt.port, ds);
      raw50.push_back(quantile(raw, 0.5));
      raw99.push_back(quantile(raw, 0.99));
      for (int shape = 0; shape < 2; ++shape) {
        auto pool = fmt::format("delayed-{}-{}", run, shape);
        auto late = shape == 0 ? pulse_lateness(rts, pool, 1, 4, ds)
                               : pulse_lateness(rts, pool, 3, 2, ds);
        p50[shape].push_back(quantile(late, 0.5));
        p99[shape].push_back(quantile(late, 0.99));
      }
      auto late = retry_lateness(*rts[0], fmt::format("retry-{}", run),
                                 retries);
      retry50.push_back(quantile(late, 0.5));
      retry99.push_back(quantile(late, 0.99));
    }
  }
  const char* shapes[] = {"1 node x 4 workers", "3 nodes x 2 workers"};
  for (int shape = 0; shape < 2; ++shape) {
    auto extra = fmt::format("\"jobs\":{},\"shape\":\"{}\"", n, shapes[shape]);
    report("delayed", "fire_lateness_p50_us", median(p50[shape]),
           "raw_sleep_rpush_blpop_lateness_p50_us", median(raw50), false,
           extra);
    report("delayed", "fire_lateness_p99_us", median(p99[shape]),
           "raw_sleep_rpush_blpop_lateness_p99_us", median(raw99), false,
           extra);
  }
  auto extra = fmt::format("\"jobs\":{},\"attempts\":3,\"backoff\":"
                           "\"exponential 100 ms\"", retries);
  report("retry", "backoff_lateness_p50_us", median(retry50),
         "raw_sleep_rpush_blpop_lateness_p50_us", median(raw50), false, extra);
  report("retry", "backoff_lateness_p99_us", median(retry99),
         "raw_sleep_rpush_blpop_lateness_p99_us", median(raw99), false, extra);
  return 0;
}
