// Gateway and pub/sub behaviour when Redis dies, hangs or comes back.

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/pubsub.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using stop_atom = caf::atom_constant<caf::atom("stop")>;

struct traffic_counters {
  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> failed{0};
  int64_t outstanding() const { return sent - ok - failed; }
};

// Keeps `window` commands from `next()` in flight until told to stop;
// counts every reply. After an error it waits `backoff` before the next.
caf::behavior traffic(caf::event_based_actor* self, gateway_actor gw,
                      std::function<command()> next,
                      std::shared_ptr<traffic_counters> c, int window,
                      caf::timespan backoff) {
  auto fire = std::make_shared<std::function<void()>>();
  *fire = [=] {
    ++c->sent;
    // The actor's own request timeout is far above the gateway's: every
    // reply, success or error, must come from the gateway.
    self->request(gw, 60s, cmd_atom::value, next())
      .then(
        [=](const resp::value&) {
          ++c->ok;
          if (*fire)
            (*fire)();
        },
        [=](caf::error&) {
          ++c->failed;
          self->delayed_send(self, backoff, caf::tick_atom::value);
        });
  };
  for (int i = 0; i < window; ++i)
    (*fire)();
  return {
    [=](caf::tick_atom) {
      if (*fire) // a late retry tick after stop
        (*fire)();
    },
    [=](stop_atom) { *fire = nullptr; },
  };
}

// SET t v, over and over.
std::function<command()> sets() {
  return [] { return make_command("SET", "t", "v"); };
}

// RPUSH key 0, 1, 2, ...: a failed push is skipped (its number is never
// retried), so the list must stay strictly increasing whatever fails.
std::function<command()> numbered_pushes(std::string key) {
  auto n = std::make_shared<int64_t>(0);
  return [key, n] {
    return make_command("RPUSH", key, std::to_string((*n)++));
  };
}

pubsub_subscriber_actor::behavior_type
collector(pubsub_subscriber_actor::pointer,
          std::shared_ptr<std::atomic<int>> msgs,
          std::shared_ptr<std::atomic<int>> resubs) {
  return {
    [=](const pubsub_message&) { ++*msgs; },
    [=](resub_atom, const std::string&) { ++*resubs; },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(failures, actor_fixture)

BOOST_AUTO_TEST_CASE(redis_killed_mid_traffic_then_restarted) {
  auto counters = std::make_shared<traffic_counters>();
  std::vector<caf::actor> producers;
  for (int i = 0; i < 4; ++i)
    // Back off a little after errors while Redis is down.
    producers.push_back(
      sys->spawn(traffic, rt->gateway(), sets(), counters, 32, 5ms));
  // Pub/sub: one subscriber on a channel.
  auto msgs = std::make_shared<std::atomic<int>>(0);
  auto resubs = std::make_shared<std::atomic<int>>(0);
  auto sub = sys->spawn(collector, msgs, resubs);
  (*self)->request(rt->pubsub(), 5s, sub_atom::value, std::string{"chan"}, sub)
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE(wait_until([&] { return counters->ok > 2000; }, 10s));
  // Crash Redis while requests are in flight.
  server().kill();
  auto killed_at = std::chrono::steady_clock::now();
  auto before_failures = counters->failed.load();
  // Every request in flight is answered (with an error) within the command
  // timeout: nothing hangs.
  BOOST_REQUIRE(wait_until([&] { return counters->failed > before_failures; },
                           2000ms));
  std::this_thread::sleep_for(100ms);
  for (auto& p : producers)
    caf::anon_send(p, stop_atom::value);
  BOOST_TEST(wait_until([&] { return counters->outstanding() == 0; },
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                          rt->redis().command_timeout + 500ms)),
             "outstanding=" << counters->outstanding());
  BOOST_TEST((std::chrono::steady_clock::now() - killed_at
              < rt->redis().command_timeout + 1s));
  // While Redis is down, requests fail with a clear error, never hang.
  auto down = redis()("PING");
  BOOST_REQUIRE(!down);
  auto code = code_of(down.error());
  BOOST_TEST((code == errc::connect_failed || code == errc::disconnected
              || code == errc::timeout),
             render(down.error()));
  // Restart on the same port: the gateway reconnects on its own.
  BOOST_REQUIRE(!server().restart());
  BOOST_TEST(wait_until([&] { return redis()("PING").engaged(); }, 5s));
  BOOST_TEST(redis()("SET", "after", "restart")->str == "OK");
  BOOST_TEST(redis().stats()->reconnects >= 1u);
  // The pub/sub actor resubscribed, told its subscriber, and delivers again.
  BOOST_REQUIRE(wait_until([&] { return *resubs >= 1; }, 5s));
  BOOST_TEST(*redis()("PUBLISH", "chan", "hello")->as_integer() == 1);
  BOOST_TEST(wait_until([&] { return *msgs >= 1; }, 2s));
  for (auto& p : producers)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(each_sender_keeps_its_order_across_reconnects) {
  // Requests sent while the gateway is disconnected wait in its mailbox or
  // queue; once it reconnects, later requests must not overtake them.
  constexpr int n = 8;
  auto counters = std::make_shared<traffic_counters>();
  std::vector<caf::actor> pushers;
  for (int i = 0; i < n; ++i)
    pushers.push_back(sys->spawn(traffic, rt->gateway(),
                                 numbered_pushes("order:" + std::to_string(i)),
                                 counters, 64, 1ms));
  // The pushers stop even when a check below ends the case early (else
  // the actor system's shutdown would wait for them).
  struct stop_on_exit {
    std::vector<caf::actor>& hdls;
    ~stop_on_exit() {
      for (auto& p : hdls)
        caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
    }
  } stopper{pushers};
  // Every pusher wrote again since the last restart (the total alone can
  // grow while one slow pusher has not yet).
  auto all_lists_filled = [&] {
    for (int i = 0; i < n; ++i) {
      auto len = redis()("LLEN", "order:" + std::to_string(i));
      if (!len || len->integer == 0)
        return false;
    }
    return true;
  };
  // Each list holds what was pushed since the last restart (no AOF).
  auto check_lists = [&](int round) {
    BOOST_REQUIRE_MESSAGE(wait_until(all_lists_filled, 10s),
                          "round " << round << ": a pusher wrote nothing");
    for (int i = 0; i < n; ++i) {
      auto xs = redis()("LRANGE", "order:" + std::to_string(i), "0", "-1");
      BOOST_REQUIRE(xs);
      BOOST_REQUIRE(!xs->elements.empty());
      int64_t prev = -1;
      size_t disorder = 0;
      for (auto& x : xs->elements) {
        auto v = std::stoll(x.str);
        if (v <= prev)
          ++disorder;
        prev = v;
      }
      BOOST_TEST(disorder == 0u, "round " << round << ": list " << i
                                          << " out of order " << disorder
                                          << " times in "
                                          << xs->elements.size());
    }
  };
  for (int round = 0; round < 10; ++round) {
    auto ok = counters->ok.load();
    BOOST_REQUIRE(wait_until([&] { return counters->ok > ok + 3000; }, 10s));
    check_lists(round);
    server().kill();
    std::this_thread::sleep_for(20ms);
    BOOST_REQUIRE(!server().restart());
  }
  auto ok = counters->ok.load();
  BOOST_REQUIRE(wait_until([&] { return counters->ok > ok + 3000; }, 10s));
  for (auto& p : pushers)
    caf::anon_send(p, stop_atom::value);
  BOOST_REQUIRE(wait_until([&] { return counters->outstanding() == 0; }, 5s));
  check_lists(10);
}

BOOST_AUTO_TEST_CASE(hung_redis_times_out_then_recovers) {
  // SIGSTOP: the connection stays open but nothing answers.
  BOOST_REQUIRE(redis()("SET", "x", "1"));
  ::kill(server().pid(), SIGSTOP);
  auto t0 = std::chrono::steady_clock::now();
  auto res = redis()("GET", "x");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ::kill(server().pid(), SIGCONT);
  BOOST_REQUIRE(!res);
  BOOST_TEST(code_of(res.error()) == errc::timeout, render(res.error()));
  auto timeout = rt->redis().command_timeout;
  BOOST_TEST((elapsed >= timeout - 10ms));
  BOOST_TEST((elapsed < timeout + 500ms));
  BOOST_TEST(redis().stats()->timeouts >= 1u);
  // The gateway reset the connection and works again.
  BOOST_TEST(wait_until([&] { return redis()("GET", "x").engaged(); }, 5s));
  BOOST_TEST(redis()("GET", "x")->str == "1");
}

BOOST_AUTO_TEST_CASE(busy_redis_refusals_are_retried_within_the_timeout) {
  // A script that never ends makes Redis answer every other client with
  // BUSY (it runs nothing else) until SCRIPT KILL: the gateway sends the
  // refused GET again until it succeeds, within its command timeout.
  BOOST_REQUIRE(redis()("SET", "k", "v"));
  BOOST_REQUIRE(redis()("CONFIG", "SET", "busy-reply-threshold", "50"));
  auto busy_gw = rt->spawn_gateway(gateway_role::blocking);
  command loop = make_command("EVAL", "while true do end", "0");
  loop.timeout = std::chrono::seconds{10};
  (*self)->send(busy_gw, cmd_atom::value, loop);
  std::this_thread::sleep_for(150ms); // past busy-reply-threshold
  std::thread killer{[port = port()] {
    std::this_thread::sleep_for(400ms);
    auto cmd = "redis-cli -p " + std::to_string(port)
               + " SCRIPT KILL > /dev/null";
    if (std::system(cmd.c_str()) != 0)
      std::fprintf(stderr, "SCRIPT KILL failed\n");
  }};
  auto r = redis()("GET", "k");
  killer.join();
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->str == "v");
  gateway_stats st;
  (*self)
    ->request(rt->gateway(), 5s, stats_atom::value)
    .receive([&](gateway_stats& x) { st = x; }, [](caf::error&) {});
  BOOST_TEST(st.refused_retries > 0u);
  (*self)->send_exit(busy_gw, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(reads_in_flight_are_sent_again_after_a_lost_connection) {
  // Redis drops two connections, each with a blocking command in flight.
  // The read (XREAD) goes out again after the reconnect and gets the event
  // added after it; the pop (BLPOP, a write) fails with disconnected: it
  // may have taken an element.
  auto read_gw = rt->spawn_gateway(gateway_role::blocking);
  auto pop_gw = rt->spawn_gateway(gateway_role::blocking);
  auto read = make_command("XREAD", "BLOCK", "4000", "STREAMS", "lost:s", "$");
  read.timeout = 8s;
  auto pop = make_command("BLPOP", "lost:l", "4");
  pop.timeout = 8s;
  auto read_reply = (*self)->request(read_gw, 10s, cmd_atom::value, read);
  auto pop_reply = (*self)->request(pop_gw, 10s, cmd_atom::value, pop);
  BOOST_REQUIRE(wait_until(
    [&] {
      auto n = redis()("CLIENT", "LIST");
      return n && n->str.find("cmd=xread") != std::string::npos
             && n->str.find("cmd=blpop") != std::string::npos;
    },
    3s));
  auto killed = redis()("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
  BOOST_REQUIRE_MESSAGE(killed, describe(killed));
  auto n_killed = killed->as_integer();
  BOOST_TEST((n_killed && *n_killed >= 2));
  std::atomic<bool> done{false};
  std::thread adder{[&, port = port()] {
    // Until the read answers: it went out again at some point after the
    // kill and waits for an entry newer than that.
    auto cmd = "redis-cli -p " + std::to_string(port)
               + " XADD lost:s '*' n e p x > /dev/null";
    for (int i = 0; i < 50 && !done; ++i) {
      if (std::system(cmd.c_str()) != 0)
        std::fprintf(stderr, "XADD failed\n");
      std::this_thread::sleep_for(100ms);
    }
  }};
  caf::error pop_err;
  pop_reply.receive([](resp::value&) {}, [&](caf::error& e) { pop_err = e; });
  BOOST_TEST((code_of(pop_err) == errc::disconnected), render(pop_err));
  resp::value got;
  caf::error read_err;
  read_reply.receive([&](resp::value& x) { got = std::move(x); },
                     [&](caf::error& e) { read_err = e; });
  done = true;
  adder.join();
  BOOST_TEST(!read_err, render(read_err));
  BOOST_TEST(got.is_array());
  auto stats_of = [&](const gateway_actor& gw) {
    gateway_stats st;
    (*self)
      ->request(gw, 5s, stats_atom::value)
      .receive([&](gateway_stats& x) { st = x; }, [](caf::error&) {});
    return st;
  };
  BOOST_TEST(stats_of(read_gw).lost_retries == 1u);
  BOOST_TEST(stats_of(pop_gw).lost_retries == 0u);
  BOOST_TEST(stats_of(read_gw).reconnects >= 1u);
  (*self)->send_exit(read_gw, caf::exit_reason::user_shutdown);
  (*self)->send_exit(pop_gw, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(connect_failures)

BOOST_AUTO_TEST_CASE(silent_listener_fails_within_connect_timeout) {
  // A socket that listens but never answers (the TCP handshake completes in
  // the kernel; AUTH/CLIENT ID never get a reply).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                == 0);
  BOOST_REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto opts = test_redis_options(ntohs(addr.sin_port));
  opts.connect_timeout = 300ms;
  auto gw = spawn_gateway(sys, opts);
  client c{sys, gw, 10s};
  auto t0 = std::chrono::steady_clock::now();
  auto res = c("PING");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  BOOST_REQUIRE(!res);
  BOOST_TEST(code_of(res.error()) == errc::connect_failed, render(res.error()));
  BOOST_TEST((elapsed < opts.connect_timeout + 200ms));
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  ::close(fd);
}

BOOST_AUTO_TEST_SUITE_END()
