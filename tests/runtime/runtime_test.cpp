// Runtime facade: embedded server life cycle and prompt shutdown.

#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <atomic>
#include <thread>

#include <caf/all.hpp>

#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(runtime_facade)

BOOST_AUTO_TEST_CASE(embedded_server_starts_and_stops) {
  pid_t pid = -1;
  std::string dir;
  {
    pulse::config cfg;
    BOOST_REQUIRE(!cfg.read(std::vector<std::string>{}));
    BOOST_REQUIRE(cfg.opts().redis.use_embedded());
    caf::actor_system sys{cfg};
    auto rt = runtime::start(sys, cfg.opts());
    BOOST_REQUIRE_MESSAGE(rt, describe(rt));
    BOOST_REQUIRE((*rt)->embedded() != nullptr);
    pid = (*rt)->embedded()->pid();
    BOOST_TEST(pid > 0);
    BOOST_TEST(::kill(pid, 0) == 0);
    BOOST_TEST((*rt)->redis().host == "127.0.0.1");
    client c{sys, (*rt)->gateway(), 5s};
    BOOST_TEST(c("SET", "k", "v")->str == "OK");
    BOOST_TEST(c("GET", "k")->str == "v");
  }
  // Runtime and actor system are gone: so is the server process.
  BOOST_TEST(::kill(pid, 0) == -1);
}

BOOST_AUTO_TEST_CASE(program_exits_promptly_after_creating_runtime) {
  redis_fixture fx;
  auto t0 = std::chrono::steady_clock::now();
  {
    pulse::config cfg;
    caf::actor_system sys{cfg};
    options o;
    o.redis = fx.redis_opts();
    auto rt = runtime::start(sys, o);
    BOOST_REQUIRE(rt);
    // Extra service actors are stopped too, even with a read blocked.
    auto blocking = (*rt)->spawn_gateway(gateway_role::blocking);
    auto cmd = make_command("BLPOP", "nothing", "30");
    cmd.timeout = 40s;
    caf::anon_send(blocking, cmd_atom::value, cmd);
    std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 3s));
}

BOOST_AUTO_TEST_CASE(actors_register_from_many_threads_at_once) {
  // Pool workers, tickers and schedulers call track/spawn_gateway from
  // their own threads; the runtime's lists must take that.
  redis_fixture fx;
  std::atomic<int> alive{0};
  auto t0 = std::chrono::steady_clock::now();
  {
    pulse::config cfg;
    caf::actor_system sys{cfg};
    options o;
    o.redis = fx.redis_opts();
    auto rt = runtime::start(sys, o);
    BOOST_REQUIRE(rt);
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < 300; ++i) {
          auto a = sys.spawn([&](caf::event_based_actor* self) -> caf::behavior {
            ++alive;
            self->attach_functor([&](const caf::error&) { --alive; });
            return {[](int) {}};
          });
          (*rt)->track(a);
          if (t == 0 && i % 100 == 0)
            (*rt)->spawn_gateway(gateway_role::blocking);
        }
      });
    for (auto& t : ts)
      t.join();
    BOOST_TEST(wait_until([&] { return alive == 8 * 300; }));
  }
  BOOST_TEST(alive == 0); // every tracked actor was exited by shutdown
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 10s));
}

BOOST_AUTO_TEST_CASE(start_fails_clearly_without_redis) {
  pulse::config cfg;
  caf::actor_system sys{cfg};
  options o;
  o.redis = test_redis_options(free_loopback_port());
  auto rt = runtime::start(sys, o);
  BOOST_REQUIRE(!rt);
  BOOST_TEST(code_of(rt.error()) == errc::connect_failed, render(rt.error()));
}

BOOST_AUTO_TEST_CASE(embedded_start_fails_clearly_with_bad_binary) {
  pulse::config cfg;
  caf::actor_system sys{cfg};
  options o;
  o.redis.server_binary = "/nonexistent/redis-server";
  auto rt = runtime::start(sys, o);
  BOOST_REQUIRE(!rt);
  BOOST_TEST(code_of(rt.error()) == errc::server_failed, render(rt.error()));
}

BOOST_AUTO_TEST_SUITE_END()
