// Recovery benchmark: what callers see when Redis (AOF on) is SIGKILLed and
// restarted. Loops count successes and errors by code: stream adds with
// producer IDs (`add_with_id`) and a sink acking them, map `set`s, pool
// dispatches of new keys; baseline: raw hiredis PING every 1 ms. Recovery
// counts from the server's "Ready to accept connections" log line (ms), and
// from `restart()` returning (it polls every 10 ms). Then it checks that
// nothing acknowledged was lost; exits 1 on a loss or a loop not back.
// Usage: recovery_bench [--runs=1]   (it owns its Redis: no --port)

#include <atomic>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "bench/recovery_parts.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace pulse::bench::recovery;
using namespace std::chrono_literals;

namespace {

/// Starts the traffic loops (threads) until `x.stop`.
std::vector<std::thread> start_loops(run_state& x, caf::actor_system& sys,
                                     runtime& rt, const stream& st,
                                     rmap::map& m, pool_node& node) {
  std::vector<std::thread> loops;
  loops.emplace_back([&] {
    client c{sys, rt.gateway()};
    auto base = int64_t{std::time(nullptr)} * 1000; // ID: <base>-<seq>
    bool retry = false;
    for (uint64_t seq = 1; !x.stop; std::this_thread::sleep_for(1ms)) {
      auto t0 = now_ns();
      if (!retry && x.ph.restart_ret != 0 && x.first_seq_after_restart == 0)
        x.first_seq_after_restart = seq; // first added after the restart
      auto r = st.add_with_id(c, fmt::format("{}-{}", base, seq), "ev",
                              std::to_string(seq));
      x.add.record(r ? "" : error_name(r.error()), t0, now_ns(), x.ph);
      retry = !r; // the same ID again: idempotent
      if (r) {
        std::lock_guard<std::mutex> guard{x.mtx};
        x.acked_ids.push_back(*r);
        ++seq;
      }
    }
  });
  loops.emplace_back([&] {
    for (uint64_t i = 0; !x.stop; ++i, std::this_thread::sleep_for(1ms)) {
      auto t0 = now_ns();
      auto r = m.set(fmt::format("k{}", i % 50), std::to_string(i));
      x.map.record(r ? "" : error_name(r.error()), t0, now_ns(), x.ph);
    }
  });
  loops.emplace_back([&] {
    for (uint64_t i = 0; !x.stop; ++i, std::this_thread::sleep_for(2ms)) {
      auto key = fmt::format("job-{}", i);
      auto t0 = now_ns();
      ++x.dispatches_in_flight;
      node.dispatch_async(key, "p", [&x, key, t0](caf::error err) {
        x.pool.record(err ? error_name(err) : "", t0, now_ns(), x.ph);
        if (!err || code_of(err) == errc::timeout) {
          std::lock_guard<std::mutex> guard{x.mtx};
          (err ? x.late_jobs : x.ok_jobs).push_back(key);
        }
        --x.dispatches_in_flight;
      });
    }
  });
  auto port = rt.opts().redis.port;
  loops.emplace_back([&x, port] { raw_ping_loop(port, x.raw, x.ph, x.stop); });
  return loops;
}

/// Prints each loop's recovery and detection next to the raw client's.
/// Recovery counts from `ready` (the server answered again).
void report_figures(run_state& x, int run, int64_t ready) {
  auto& ph = x.ph;
  auto ms_or_none = [](int64_t from, int64_t to) {
    return to != 0 ? ms_between(from, to) : -1.0;
  };
  auto raw_det = ms_or_none(ph.kill, x.raw.first_error);
  auto raw_rec = ms_or_none(ready, x.raw.first_ok);
  auto common = fmt::format(
    R"("run":{},"outage_ms":1000,"ready_after_restart_call_ms":{:.1f},)"
    R"("restart_returned_after_ms":{:.1f})",
    run, ms_between(ph.restart_call, ready),
    ms_between(ph.restart_call, ph.restart_ret));
  for (auto* s : {&x.add, &x.map, &x.pool, &x.sink, &x.raw}) {
    std::string errs;
    for (auto& [k, v] : s->errors)
      errs += fmt::format("{}\"{}\":{}", errs.empty() ? "" : ",", k, v);
    auto extra = fmt::format(
      R"({},"ok":{},"errors":{{{}}},"since_restart_returned_ms":{:.1f},)"
      R"("raw_since_restart_returned_ms":{:.1f},"longest_call_ms":{:.1f})",
      common, s->ok, errs, ms_or_none(ph.restart_ret, s->first_ok),
      ms_or_none(ph.restart_ret, x.raw.first_ok), s->longest_ms);
    report("recovery", s->name + "_recovery_ms", ms_or_none(ready, s->first_ok),
           "raw_ping_recovery_ms", raw_rec, false, extra);
    report("recovery", s->name + "_detection_ms",
           ms_or_none(ph.kill, s->first_error), "raw_ping_detection_ms",
           raw_det, false, common);
    x.ok = x.ok && s->first_ok != 0;
  }
}

/// Returns how many of `xs` are not in `set`.
size_t missing(const std::vector<std::string>& xs,
               const std::unordered_set<std::string>& set) {
  return static_cast<size_t>(std::count_if(
    xs.begin(), xs.end(), [&](const std::string& x) { return !set.count(x); }));
}

/// Checks that nothing acknowledged was lost (waiting for reclaims and
/// convergence) and prints the results.
void check_losses(run_state& x, int run, client& c, const stream& st,
                  rmap::map& m, pool_node& node) {
  std::unordered_set<std::string> in_stream;
  if (auto r = c("XRANGE", st.key(), "-", "+"))
    for (auto& e : r->elements)
      if (!e.elements.empty())
        in_stream.insert(e.elements[0].str);
  x.check(run, "stream_adds_lost", missing(x.acked_ids, in_stream),
          x.acked_ids.size());
  auto undelivered = [&] {
    std::lock_guard<std::mutex> guard{x.delivered->mtx};
    return missing(x.acked_ids, x.delivered->ids);
  };
  wait_for([&] { return undelivered() == 0; }, 3 * sink_grace + 5s);
  x.check(run, "stream_adds_not_delivered", undelivered(), x.acked_ids.size());
  auto diverged = [&]() -> size_t { // local replica == Redis hash and rev
    auto h = c("HGETALL", "map:" + m.name() + ":content");
    rmap_store::content expected;
    uint64_t rev = 0;
    for (size_t i = 0; h && i + 1 < h->elements.size(); i += 2) {
      auto& k = h->elements[i].str;
      auto v = h->elements[i + 1].as_integer();
      if (k == "=rev")
        rev = v ? static_cast<uint64_t>(*v) : 0;
      else if (k != "=kind")
        expected[k] = h->elements[i + 1].str;
    }
    return h && m.snapshot() == expected && m.rev() == rev ? 0 : 1;
  };
  wait_for([&] { return diverged() == 0; }, 10s);
  x.check(run, "map_replica_diverged", diverged(), 1);
  auto keys = node.job_keys();
  std::unordered_set<std::string> in_redis;
  if (keys)
    in_redis.insert(keys->begin(), keys->end());
  std::lock_guard<std::mutex> guard{x.handler->mtx};
  auto& started = x.handler->started;
  x.check(run, "dispatches_not_started", missing(x.ok_jobs, started),
          x.ok_jobs.size());
  x.check(run, "dispatched_jobs_missing_in_redis",
          keys ? missing(x.ok_jobs, in_redis) : x.ok_jobs.size(),
          x.ok_jobs.size());
  // Not a loss: dispatches that timed out although their job started.
  x.check(run, "timed_out_dispatches_started",
          x.late_jobs.size() - missing(x.late_jobs, started),
          x.late_jobs.size(), false);
}

/// Prints `what: err` and exits with status 1 (set-up failures).
[[noreturn]] void die(const std::string& what, const caf::error& err) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), render(err).c_str());
  std::exit(1);
}

/// One run: set-up, 1 s of traffic, kill, 1 s down, restart, wait until
/// every loop is back, 1 s more, figures, loss checks. Returns `x.ok`.
bool run_once(caf::actor_system& sys, int run) {
  server_options so;
  so.aof = true;
  auto srv = redis_server::start(so);
  if (!srv)
    die("redis-server", srv.error());
  auto& server = **srv;
  pulse::options o; // defaults: command timeout 5 s, reconnect 100 ms..5 s
  o.redis.host = "127.0.0.1";
  o.redis.port = server.port();
  o.log_level = "warn";
  auto rt_exp = runtime::start(sys, o);
  if (!rt_exp)
    die("runtime", rt_exp.error());
  auto& rt = **rt_exp;
  run_state x;
  stream_options sto;
  sto.max_len = 0; // unbounded: nothing trimmed
  auto st = *stream::make("recovery", sto);
  sink_options sko;
  sko.start = "0";
  sko.ack_grace = sink_grace;
  auto sink = spawn_sink(rt, "recovery", {"recovery"}, sko);
  auto m = rmap::map::join(rt, "recovery");
  pool_options po;
  po.ack_grace_period = pool_grace;
  auto node = pool_node::add_node(rt, "recovery", po);
  if (!sink || !m || !node || !(*node)->add_worker(x.handler))
    die("set-up", make_error(errc::invalid_argument, "sink, map or pool"));
  auto sub = sys.spawn(sink_subscriber, caf::actor_cast<caf::actor>(*sink),
                       x.delivered);
  caf::scoped_actor self{sys};
  self->request(*sink, 5s, sub_atom::value,
                caf::actor_cast<event_subscriber_actor>(sub))
    .receive([](bool) {}, [](caf::error&) {});
  auto sink_errors = [&] {
    uint64_t n = 0;
    self->request(*sink, 200ms, stats_atom::value)
      .receive([&](const stream_stats& s) { n = s.errors; },
               [](caf::error&) {});
    return n;
  };
  auto loops = start_loops(x, sys, rt, st, **m, **node);
  std::this_thread::sleep_for(1s);
  auto errors_before = sink_errors();
  int64_t sink_first_error = 0;
  auto watch_sink = [&] { // the sink's detection: its error counter moves
    if (sink_first_error == 0 && sink_errors() > errors_before)
      sink_first_error = now_ns();
    std::this_thread::sleep_for(5ms);
  };
  x.ph.kill = now_ns();
  server.kill();
  while (now_ns() - x.ph.kill < 1'000'000'000)
    watch_sink();
  x.ph.restart_call = now_ns();
  if (auto err = server.restart())
    die("restart", err);
  x.ph.restart_ret = now_ns();
  auto limit = clock_type::now() + recover_limit;
  while (!x.all_back() && clock_type::now() < limit)
    watch_sink();
  std::this_thread::sleep_for(1s);
  x.stop = true;
  for (auto& t : loops)
    t.join();
  // Every dispatch answers within its timeout (2 x grace).
  wait_for([&] { return x.dispatches_in_flight == 0; }, 2 * pool_grace + 2s);
  x.sink.first_error = sink_first_error;
  x.sink.first_ok = x.sink_back();
  x.sink.ok = x.delivered->at.size();
  x.sink.errors["counted_by_sink"] = sink_errors();
  // Recovery counts from the server's "ready" log line; without it, from
  // the earliest sign (raw PONG, restart() returned).
  auto ready = server_ready_ns(server.dir());
  if (ready <= x.ph.restart_call || ready > x.ph.restart_ret)
    ready = std::min(x.raw.first_ok ? x.raw.first_ok : x.ph.restart_ret.load(),
                     x.ph.restart_ret.load());
  report_figures(x, run, ready);
  client c{sys, rt.gateway()};
  check_losses(x, run, c, st, **m, **node);
  // Tear-down: actors first, then the runtime, then the server.
  self->send_exit(sub, caf::exit_reason::user_shutdown);
  self->send_exit(*sink, caf::exit_reason::user_shutdown);
  (*m)->close();
  (*node)->shutdown();
  node->reset();
  rt.shutdown();
  return x.ok;
}

} // namespace

int main(int argc, char** argv) {
  int runs = 1;
  for (int i = 1; i < argc; ++i)
    if (std::string{argv[i]}.rfind("--runs=", 0) == 0)
      runs = std::max(1, std::stoi(std::string{argv[i]}.substr(7)));
  pulse::config cfg;
  read_config(cfg, argc, argv);
  bool ok = true;
  {
    caf::actor_system sys{cfg};
    for (int run = 0; run < runs; ++run)
      ok = run_once(sys, run) && ok;
  }
  return ok ? 0 : 1;
}
