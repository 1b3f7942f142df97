// Streaming benchmark: add throughput, sink consume+ack throughput and
// add->sink latency, each next to a baseline measured in the same run.
//
// Usage: streaming_bench [--port=N] [--runs=3] [--scale=1.0] [--detached-sinks]
// (--detached-sinks: the sinks measured run on threads of their own, as
// `sink_options::detached`; by default on the scheduler's threads.)

#include <atomic>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "pulse/actors/streaming/sink.hpp"
#include "bench/common.hpp"
#include "bench/process_stats.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"
#include "pulse/actors/streaming/stream.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

/// `--detached-sinks` was given.
bool detached_sinks = false;

using go_atom = caf::atom_constant<caf::atom("go")>;

// Producer: `n` adds with `window` in flight; replies true when done. With
// a runtime actor `ra`, adds are `stream_add_atom` messages to it (the
// actor API); otherwise `XADD` commands straight to the gateway.
caf::behavior producer(caf::event_based_actor* self, gateway_actor gw,
                       runtime_actor ra, stream s, stream_options so,
                       size_t n, size_t window) {
  struct st {
    size_t sent = 0;
    size_t done = 0;
    caf::response_promise rp;
    std::function<void()> fire;
  };
  auto x = std::make_shared<st>();
  auto on_done = [=] {
    if (++x->done == n) {
      x->rp.deliver(true);
      x->fire = nullptr;
    } else if (x->sent < n) {
      x->fire();
    }
  };
  auto on_error = [=](caf::error&) {
    x->rp.deliver(false);
    x->fire = nullptr;
  };
  x->fire = [=] {
    x->sent++;
    if (ra) {
      self
        ->request(ra, caf::infinite, stream_add_atom::value, s.name(),
                  std::string{"ev"}, std::string{"payload-0123456789"},
                  std::string{}, so)
        .then([=](const std::string&) { on_done(); }, on_error);
      return;
    }
    auto cmds = s.add_commands("ev", "payload-0123456789");
    self->request(gw, caf::infinite, cmd_atom::value, std::move(cmds[0]))
      .then([=](const resp::value&) { on_done(); }, on_error);
  };
  return {
    [=](go_atom) {
      x->rp = self->make_response_promise();
      for (size_t i = 0; i < window && i < n; ++i)
        x->fire();
    },
  };
}

double add_throughput(runtime& rt, size_t n, bool via_runtime_actor) {
  auto& sys = rt.system();
  client c{sys, rt.gateway()};
  c("DEL", "pulse:stream:bench-add");
  stream_options so;
  so.max_len = 1000;
  auto s = *stream::make("bench-add", so);
  size_t actors = 50;
  std::vector<caf::actor> ps;
  for (size_t i = 0; i < actors; ++i)
    ps.push_back(sys.spawn(producer, rt.gateway(),
                           via_runtime_actor ? rt.actor() : runtime_actor{}, s,
                           so, n / actors, size_t{16}));
  caf::scoped_actor self{sys};
  auto t0 = clock_type::now();
  for (auto& p : ps)
    self->send(p, go_atom::value);
  for (size_t i = 0; i < ps.size(); ++i)
    self->receive([](bool) {}, caf::after(60s) >> [] {});
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  for (auto& p : ps)
    self->send_exit(p, caf::exit_reason::user_shutdown);
  return static_cast<double>(n / actors * actors) / secs;
}

void fill(uint16_t port, const std::string& key, size_t n) {
  raw_pipelined(port, n, 1000, [&](size_t) {
    return std::vector<std::string>{"XADD", key, "*", "n", "ev", "p",
                                    "payload-0123456789"};
  });
}

// Raw baseline: XREADGROUP COUNT 1000 then one XACK with all IDs.
double raw_consume(uint16_t port, size_t n) {
  std::string key = "pulse:stream:bench-raw";
  auto c = connect_raw(port);
  freeReplyObject(redisCommand(c, "DEL %s", key.c_str()));
  fill(port, key, n);
  freeReplyObject(redisCommand(c, "XGROUP CREATE %s g 0", key.c_str()));
  auto t0 = clock_type::now();
  size_t done = 0;
  while (done < n) {
    auto r = static_cast<redisReply*>(redisCommand(
      c, "XREADGROUP GROUP g c COUNT 1000 STREAMS %s >", key.c_str()));
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
      if (r)
        freeReplyObject(r);
      break;
    }
    auto entries = r->element[0]->element[1];
    std::vector<std::string> args{"XACK", key, "g"};
    for (size_t i = 0; i < entries->elements; ++i)
      args.emplace_back(entries->element[i]->element[0]->str);
    done += entries->elements;
    freeReplyObject(r);
    freeReplyObject(command_raw(c, args));
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  redisFree(c);
  return static_cast<double>(done) / secs;
}

struct arrivals {
  std::mutex mtx;
  std::atomic<size_t> count{0};
  std::vector<std::pair<std::string, clock_type::time_point>> at;
};

caf::behavior acking(caf::event_based_actor* self, caf::actor sink,
                     std::shared_ptr<arrivals> a) {
  return {
    [=](event_batch& b) {
      auto now = clock_type::now();
      std::vector<std::string> ids;
      ids.reserve(b.events.size());
      {
        std::lock_guard<std::mutex> guard{a->mtx};
        for (auto& ev : b.events) {
          ids.push_back(ev.id);
          a->at.emplace_back(ev.payload, now);
        }
      }
      if (!b.events.empty())
        self->send(sink, ack_atom::value, b.events.front().stream,
                   std::move(ids)); // one stream in this benchmark
      a->count += b.events.size();
      return true;
    },
  };
}

double sink_consume(runtime& rt, uint16_t port, size_t n, int run) {
  auto name = "bench-sink-" + std::to_string(run);
  fill(port, "pulse:stream:" + name, n);
  sink_options o;
  o.detached = detached_sinks;
  o.start = "0";
  o.block = 100ms;
  o.max_polled = 1000;
  auto s = spawn_sink(rt, "consumer", {name}, o);
  if (!s)
    return -1;
  auto a = std::make_shared<arrivals>();
  a->at.reserve(n);
  auto sub = rt.system().spawn(acking, caf::actor_cast<caf::actor>(*s), a);
  caf::scoped_actor self{rt.system()};
  auto t0 = clock_type::now();
  self->send(*s, sub_atom::value,
                  caf::actor_cast<pulse::event_subscriber_actor>(sub));
  client c{rt.system(), rt.gateway()};
  // Done when everything was delivered and acked.
  for (;;) {
    std::this_thread::sleep_for(1ms);
    if (a->count < n)
      continue;
    auto p = c("XPENDING", "pulse:stream:" + name, "consumer");
    if (p && p->is_array() && p->elements[0].integer == 0)
      break;
    if (clock_type::now() - t0 > 120s)
      return -1;
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  self->send_exit(*s, caf::exit_reason::user_shutdown);
  self->send_exit(sub, caf::exit_reason::user_shutdown);
  return static_cast<double>(n) / secs;
}

// p50 (µs) of add -> subscriber, one event at a time.
std::pair<double, double> sink_latency(runtime& rt, size_t n) {
  sink_options o;
  o.detached = detached_sinks;
  o.block = 1s;
  auto s = spawn_sink(rt, "lat", {"bench-lat"}, o);
  if (!s)
    return {-1, -1};
  auto a = std::make_shared<arrivals>();
  auto sub = rt.system().spawn(acking, caf::actor_cast<caf::actor>(*s), a);
  caf::scoped_actor self{rt.system()};
  self->request(*s, 5s, sub_atom::value,
                  caf::actor_cast<pulse::event_subscriber_actor>(sub)).receive([](bool) {},
                                                      [](caf::error&) {});
  std::this_thread::sleep_for(50ms);
  client c{rt.system(), rt.gateway()};
  auto st = *stream::make("bench-lat");
  std::vector<double> us;
  for (size_t i = 0; i < n; ++i) {
    auto before = a->count.load();
    auto t0 = clock_type::now();
    st.add(c, "ev", std::to_string(i));
    auto deadline = t0 + 5s;
    while (a->count.load() == before && clock_type::now() < deadline)
      std::this_thread::yield();
    if (a->count.load() == before)
      break;
    clock_type::time_point got;
    {
      std::lock_guard<std::mutex> guard{a->mtx};
      got = a->at.back().second;
    }
    us.push_back(std::chrono::duration<double, std::micro>(got - t0).count());
  }
  self->send_exit(*s, caf::exit_reason::user_shutdown);
  self->send_exit(sub, caf::exit_reason::user_shutdown);
  return {quantile(us, 0.5), quantile(us, 0.99)};
}

} // namespace

int main(int argc, char** argv) {
  target tgt{argc, argv};
  for (int i = 1; i < argc; ++i)
    detached_sinks = detached_sinks || std::string{argv[i]} == "--detached-sinks";
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto n = static_cast<size_t>(200000 * tgt.scale);
  auto nc = static_cast<size_t>(100000 * tgt.scale);
  auto nl = static_cast<size_t>(2000 * tgt.scale);
  std::vector<double> add, add_actor, rb_xadd, consume, raw_cons, lat, lat99, raw_lat;
  {
    caf::actor_system sys{cfg};
    auto o = tgt.runtime_options();
    o.redis.command_timeout = 30s;
    auto rt = runtime::start(sys, o);
    if (!rt) {
      std::fprintf(stderr, "%s\n", render(rt.error()).c_str());
      return 1;
    }
    for (int run = 0; run < tgt.runs; ++run) {
      add.push_back(add_throughput(**rt, n, false));
      add_actor.push_back(add_throughput(**rt, n, true));
      rb_xadd.push_back(redis_benchmark(
        tgt.port,
        fmt::format("-n {} -P 16 -c 50 XADD pulse:stream:rb MAXLEN '~' 1000 '*' "
                    "n ev p payload-0123456789",
                    n),
        "", "rps"));
      consume.push_back(sink_consume(**rt, tgt.port, nc, run));
      raw_cons.push_back(raw_consume(tgt.port, nc));
      auto [p50, p99] = sink_latency(**rt, nl);
      lat.push_back(p50);
      lat99.push_back(p99);
      raw_lat.push_back(raw_stream_hop_p50(tgt.port, nl));
      client c{sys, (*rt)->gateway()};
      c("FLUSHALL");
    }
  }
  auto runs = fmt::format("\"runs\":{}", tgt.runs);
  report("streaming", "add_ops_per_s_50x16_producers", median(add),
         "redis_benchmark_P16_c50_xadd_rps", median(rb_xadd), true, runs);
  report("streaming", "runtime_actor_add_ops_per_s_50x16_producers",
         median(add_actor), "redis_benchmark_P16_c50_xadd_rps",
         median(rb_xadd), true, runs);
  report("streaming", "sink_consume_ack_events_per_s", median(consume),
         "raw_xreadgroup1000_xack_events_per_s", median(raw_cons), true, runs);
  report("streaming", "add_to_sink_p50_us", median(lat),
         "raw_xadd_to_xreadgroup_block_p50_us", median(raw_lat), false,
         runs + fmt::format(",\"p99_us\":{:.1f}", median(lat99)));
  return 0;
}
