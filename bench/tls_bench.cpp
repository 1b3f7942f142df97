// TLS benchmark: the same gateway shapes over TLS and over plain TCP,
// against ONE redis-server that has both a plain and a TLS port (mutual
// TLS, certificates made with openssl at start), runs interleaved:
//   - pipelined SET throughput through the gateway (event-based actors,
//     each with `window` requests in flight), 3-byte and 4 KiB values;
//   - PING round trip p50/p99 from a blocking client (one at a time);
//   - connect p50 (TCP, handshake, CLIENT ID): plain, TLS with a full
//     handshake, TLS resuming the cached session.
// The baseline of every TLS figure is the plain figure of the same run.
//
// Usage: tls_bench [--runs=3] [--scale=1.0] [--only=set,set4k,ping,connect]
//        [--work-stealing.<option>=...] [--scheduler.<option>=...]
//        (it owns its Redis: no --port)
// Output: one JSON object per line (see bench/common.hpp).

#include <caf/all.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/tls.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/tls_fixture.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;

// Sends `n` SETs of `value` with `window` in flight; answers `go` with
// true once all replies arrived, false on the first error.
caf::behavior set_loader(caf::event_based_actor* self, gateway_actor gw,
                         size_t n, size_t window, std::string prefix,
                         std::shared_ptr<const std::string> value) {
  struct st {
    size_t sent = 0;
    size_t done = 0;
    bool failed = false;
    caf::response_promise rp;
  };
  auto s = std::make_shared<st>();
  auto fire = std::make_shared<std::function<void()>>();
  *fire = [=] {
    auto i = s->sent++;
    self
      ->request(gw, caf::infinite, cmd_atom::value,
                make_command("SET", prefix + std::to_string(i % 1000),
                             *value))
      .then(
        [=](const resp::value&) {
          if (++s->done == n) {
            s->rp.deliver(true);
            *fire = nullptr;
          } else if (s->sent < n && *fire) {
            (*fire)();
          }
        },
        [=](caf::error&) {
          if (!s->failed) {
            s->failed = true;
            s->rp.deliver(false);
          }
          *fire = nullptr;
        });
  };
  return {
    [=](go_atom) {
      s->rp = self->make_response_promise();
      for (size_t i = 0; i < window && i < n; ++i)
        (*fire)();
    },
  };
}

// ops/s of `total` SETs from `actors` loaders with `window` in flight each.
double pipelined_sets(caf::actor_system& sys, const gateway_actor& gw,
                      size_t total, size_t actors, size_t window,
                      size_t value_bytes) {
  auto value = std::make_shared<const std::string>(value_bytes, 'v');
  auto per_actor = total / actors;
  std::vector<caf::actor> loaders;
  for (size_t i = 0; i < actors; ++i)
    loaders.push_back(sys.spawn(set_loader, gw, per_actor, window,
                                "k" + std::to_string(i) + ":", value));
  auto secs = run_loaders(sys, loaders, caf::make_message(go_atom::value),
                          120s);
  return secs < 0 ? -1 : static_cast<double>(per_actor * actors) / secs;
}

// p50 and p99 (µs) of PING one at a time from a blocking client.
std::pair<double, double> ping_latency(caf::actor_system& sys,
                                       const gateway_actor& gw, size_t n) {
  client c{sys, gw, 5s};
  for (int i = 0; i < 500; ++i)
    c("PING");
  std::vector<double> us;
  us.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    auto r = c("PING");
    if (!r) {
      std::fprintf(stderr, "PING failed: %s\n", render(r.error()).c_str());
      std::exit(1);
    }
    us.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t0)
        .count());
  }
  return {quantile(us, 0.5), quantile(us, 0.99)};
}

struct series {
  std::vector<double> plain;
  std::vector<double> tls;

  /// Every run's figure, for the JSON line: "tls_runs":[..],"plain_runs":[..].
  std::string runs() const {
    return fmt::format("\"tls_runs\":[{:.1f}],\"plain_runs\":[{:.1f}]",
                       fmt::join(tls, ","), fmt::join(plain, ","));
  }
};

} // namespace

int main(int argc, char** argv) {
  int runs = 3;
  double scale = 1.0;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--runs=", 0) == 0)
      runs = std::max(1, std::stoi(arg.substr(7)));
    else if (arg.rfind("--scale=", 0) == 0)
      scale = std::stod(arg.substr(8));
    else if (arg.rfind("--only=", 0) == 0)
      for (size_t pos = 7; pos <= arg.size();) {
        auto comma = arg.find(',', pos);
        if (comma == std::string::npos)
          comma = arg.size();
        if (comma > pos)
          only.push_back(arg.substr(pos, comma - pos));
        pos = comma + 1;
      }
  }
  auto wants = [&](const std::string& x) {
    return only.empty() || std::find(only.begin(), only.end(), x) != only.end();
  };
  pulse::config cfg;
  read_config(cfg, argc, argv);
  test::tls_certs certs;
  test::tls_redis srv{certs};
  auto tls_opts = srv.opts();
  tls_opts.command_timeout = 60s;
  tls_opts.connect_timeout = 5s;
  auto plain_opts = tls_opts;
  plain_opts.tls = false;
  plain_opts.port = srv.port();
  auto n = static_cast<size_t>(200000 * scale);
  auto n4k = static_cast<size_t>(50000 * scale);
  auto pings = static_cast<size_t>(20000 * scale);
  series set3, set4k, p50, p99;
  {
    caf::actor_system sys{cfg};
    auto plain_gw = spawn_gateway(sys, plain_opts);
    auto tls_gw = spawn_gateway(sys, tls_opts);
    for (auto& gw : {plain_gw, tls_gw}) {
      client c{sys, gw, 10s};
      auto r = c("PING");
      if (!r) {
        std::fprintf(stderr, "cannot connect: %s\n",
                     render(r.error()).c_str());
        return 1;
      }
    }
    for (int run = 0; run < runs; ++run) {
      // Interleaved, alternating which goes first, so drift hits both.
      for (int k = 0; k < 2; ++k) {
        bool tls = (k + run) % 2 == 1;
        auto& gw = tls ? tls_gw : plain_gw;
        auto pick = [tls](series& s) -> std::vector<double>& {
          return tls ? s.tls : s.plain;
        };
        if (wants("set"))
          pick(set3).push_back(pipelined_sets(sys, gw, n, 4, 128, 3));
        if (wants("set4k"))
          pick(set4k).push_back(pipelined_sets(sys, gw, n4k, 4, 32, 4096));
        if (wants("ping")) {
          auto [a, b] = ping_latency(sys, gw, pings);
          pick(p50).push_back(a);
          pick(p99).push_back(b);
        }
      }
    }
    for (auto& gw : {plain_gw, tls_gw})
      caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  }
  // Connects (TCP, TLS handshake, CLIENT ID): plain, TLS with a full
  // handshake (session cache emptied first), TLS resuming the session.
  std::vector<double> conn_plain, conn_full, conn_resumed;
  auto connects = static_cast<size_t>(200 * scale) + 1;
  auto time_connect = [](const redis_options& o) {
    auto t0 = std::chrono::steady_clock::now();
    auto s = connect_redis(o);
    auto us = std::chrono::duration<double, std::micro>(
                std::chrono::steady_clock::now() - t0)
                .count();
    if (!s) {
      std::fprintf(stderr, "cannot connect: %s\n", render(s.error()).c_str());
      std::exit(1);
    }
    return us;
  };
  if (wants("connect"))
    for (size_t i = 0; i < connects; ++i) {
      conn_plain.push_back(time_connect(plain_opts));
      detail::tls_forget_sessions();
      conn_full.push_back(time_connect(tls_opts));
      conn_resumed.push_back(time_connect(tls_opts));
    }
  auto extra = fmt::format("\"runs\":{},\"server\":\"one redis-server, plain "
                           "and TLS port (mutual TLS, TLSv1.3)\"",
                           runs);
  if (wants("set"))
    report("tls", "pipelined_set_ops_per_s_tls", median(set3.tls),
           "pipelined_set_ops_per_s_plain", median(set3.plain), true,
           extra + ",\"actors\":4,\"window\":128,\"value_bytes\":3,"
             + set3.runs());
  if (wants("set4k"))
    report("tls", "pipelined_set4k_ops_per_s_tls", median(set4k.tls),
           "pipelined_set4k_ops_per_s_plain", median(set4k.plain), true,
           extra + ",\"actors\":4,\"window\":32,\"value_bytes\":4096,"
             + set4k.runs());
  if (wants("ping")) {
    report("tls", "ping_p50_us_tls", median(p50.tls), "ping_p50_us_plain",
           median(p50.plain), false,
           extra + ",\"client\":\"blocking\"," + p50.runs());
    report("tls", "ping_p99_us_tls", median(p99.tls), "ping_p99_us_plain",
           median(p99.plain), false,
           extra + ",\"client\":\"blocking\"," + p99.runs());
  }
  if (wants("connect")) {
    auto extra_c = extra + fmt::format(",\"connects\":{}", connects);
    report("tls", "connect_p50_us_tls_full", median(conn_full),
           "connect_p50_us_plain", median(conn_plain), false, extra_c);
    report("tls", "connect_p50_us_tls_resumed", median(conn_resumed),
           "connect_p50_us_tls_full", median(conn_full), false, extra_c);
  }
  return 0;
}
