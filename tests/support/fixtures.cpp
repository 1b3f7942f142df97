#include "tests/support/fixtures.hpp"
#include "tests/support/test_runtime.hpp"

#include <stdexcept>
#include <thread>

#include "pulse/runtime/errors.hpp"

namespace pulse::test {

bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return pred();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

redis_options test_redis_options(uint16_t port) {
  redis_options r;
  r.host = "127.0.0.1";
  r.port = port;
  r.connect_timeout = 1s;
  r.command_timeout = 2s;
  r.reconnect_min = 20ms;
  r.reconnect_max = 200ms;
  return r;
}

redis_fixture::redis_fixture(server_options opts) {
  auto srv = redis_server::start(std::move(opts));
  if (!srv)
    throw std::runtime_error("cannot start redis-server: "
                             + render(srv.error()));
  server_ = std::move(*srv);
}

redis_fixture::~redis_fixture() {
  // nop; the server stops in its destructor
}

aof_redis_fixture::aof_redis_fixture() : redis_fixture([] {
  server_options opts;
  opts.aof = true;
  return opts;
}()) {
  // nop
}

actor_fixture::actor_fixture(server_options opts)
  : redis_fixture(std::move(opts)) {
  rt = start_test_runtime(cfg, sys, redis_opts());
  self.emplace(*sys);
}

pulse::client& actor_fixture::redis() {
  if (!client_)
    client_ = std::make_unique<pulse::client>(*sys, rt->gateway(), 10s);
  return *client_;
}

actor_fixture::~actor_fixture() {
  client_.reset();
  self.reset();
  rt.reset();
  sys.reset();
}

deterministic_fixture::deterministic_fixture() {
  cfg.set("scheduler.policy", caf::atom("testing"));
  sys.emplace(cfg);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
}

deterministic_fixture::~deterministic_fixture() {
  sched_->run();
  sys.reset();
}

} // namespace pulse::test
