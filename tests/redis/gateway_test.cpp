// Gateway integration tests against a real redis-server.

#include <boost/test/unit_test.hpp>

#include <future>

#include <caf/all.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;

// Sends `n` INCRs on its own key with up to `window` in flight, and checks
// that the replies come back as 1, 2, ..., n in order. Replies `true` to
// `go` when all replies were as expected.
caf::behavior incr_client(caf::event_based_actor* self, gateway_actor gw,
                          std::string key, int n, int window) {
  struct st {
    int sent = 0;
    int received = 0;
    bool ok = true;
    caf::response_promise rp;
  };
  auto s = std::make_shared<st>();
  auto send_one = std::make_shared<std::function<void()>>();
  *send_one = [=] {
    ++s->sent;
    self->request(gw, 10s, cmd_atom::value, make_command("INCR", key))
      .then(
        [=](const resp::value& v) {
          ++s->received;
          if (v.integer != s->received)
            s->ok = false;
          if (s->sent < n)
            (*send_one)();
          else if (s->received == n) {
            s->rp.deliver(s->ok);
            *send_one = nullptr; // break the self-reference
          }
        },
        [=](caf::error&) {
          s->ok = false;
          s->rp.deliver(false);
          *send_one = nullptr;
        });
  };
  return {
    [=](go_atom) {
      s->rp = self->make_response_promise();
      for (int i = 0; i < window && i < n; ++i)
        (*send_one)();
      return s->rp;
    },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(gateway, actor_fixture)

BOOST_AUTO_TEST_CASE(single_commands_roundtrip) {
  auto& r = redis();
  BOOST_TEST(r("SET", "k", "v")->str == "OK");
  BOOST_TEST(r("GET", "k")->str == "v");
  BOOST_TEST(r("GET", "missing")->is_nil());
  BOOST_TEST(r("RPUSH", "l", "a", "b")->integer == 2);
  BOOST_TEST(r("LRANGE", "l", "0", "-1")->render() == "[\"a\", \"b\"]");
  std::string binary{"\0\r\n\xff", 4};
  BOOST_TEST(r("SET", "bin", binary)->str == "OK");
  BOOST_TEST(r("GET", "bin")->str == binary);
}

BOOST_AUTO_TEST_CASE(redis_error_reply_is_a_redis_error) {
  auto& r = redis();
  r("SET", "str", "x");
  auto res = r("LPUSH", "str", "y");
  BOOST_REQUIRE(!res);
  BOOST_TEST(code_of(res.error()) == errc::redis_error);
  BOOST_TEST(render(res.error()).find("WRONGTYPE") != std::string::npos);
  // The connection is still fine afterwards.
  BOOST_TEST(r("PING")->str == "PONG");
}

BOOST_AUTO_TEST_CASE(pipelined_requests_from_many_actors_stay_in_order) {
  // 16 actors x 64 in flight x 500 INCRs each: every actor sees 1..500.
  std::vector<caf::actor> clients;
  for (int i = 0; i < 16; ++i)
    clients.push_back(sys->spawn(incr_client, rt->gateway(),
                                 "ctr:" + std::to_string(i), 500, 64));
  int ok = 0;
  for (auto& c : clients)
    (*self)->request(c, 30s, go_atom::value)
      .receive([&](bool b) { ok += b ? 1 : 0; },
               [&](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(ok == 16);
  for (int i = 0; i < 16; ++i)
    BOOST_TEST(*redis()("GET", "ctr:" + std::to_string(i))->as_integer()
               == 500);
  auto st = redis().stats();
  BOOST_REQUIRE(st);
  BOOST_TEST(st->errors == 0u);
  BOOST_TEST(st->sent >= 8000u);
  for (auto& c : clients)
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(batch_returns_every_reply_in_order) {
  std::vector<command> cmds;
  for (int i = 0; i < 1000; ++i)
    cmds.push_back(make_command("SET", "b:" + std::to_string(i),
                                std::to_string(i * 2)));
  cmds.push_back(make_command("INCR", "b:1")); // "2" -> 3
  cmds.push_back(make_command("LPUSH", "b:1", "x")); // WRONGTYPE, in place
  cmds.push_back(make_command("GET", "b:999"));
  auto res = redis().batch(cmds);
  BOOST_REQUIRE(res);
  BOOST_REQUIRE_EQUAL(res->size(), 1003u);
  BOOST_TEST((*res)[0].str == "OK");
  BOOST_TEST((*res)[1000].integer == 3);
  BOOST_TEST((*res)[1001].is_error());
  BOOST_TEST((*res)[1002].str == "1998");
  auto empty = redis().batch({});
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->empty());
}

BOOST_AUTO_TEST_CASE(scripts_are_cached_and_survive_script_flush) {
  script scr{"redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', "
             "KEYS[1])"};
  auto& r = redis();
  // First use sends EVAL (source), later uses EVALSHA.
  BOOST_TEST(r.eval(scr, {"s1"}, {"one"})->str == "one");
  BOOST_TEST(*r("SCRIPT", "EXISTS", scr.sha1)->elements[0].as_integer() == 1);
  BOOST_TEST(r.eval(scr, {"s1"}, {"two"})->str == "two");
  BOOST_TEST(r.stats()->script_reloads == 0u);
  // After SCRIPT FLUSH, EVALSHA gets NOSCRIPT and the gateway re-sends EVAL.
  BOOST_TEST(r("SCRIPT", "FLUSH")->str == "OK");
  BOOST_TEST(*r("SCRIPT", "EXISTS", scr.sha1)->elements[0].as_integer() == 0);
  BOOST_TEST(r.eval(scr, {"s1"}, {"three"})->str == "three");
  BOOST_TEST(r.stats()->script_reloads == 1u);
  BOOST_TEST(*r("SCRIPT", "EXISTS", scr.sha1)->elements[0].as_integer() == 1);
  // A script error is a redis_error, the connection stays usable.
  auto bad = r.eval(script{"return redis.call('NOPE')"}, {}, {});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::redis_error);
  BOOST_TEST(r("PING")->str == "PONG");
}

BOOST_AUTO_TEST_CASE(blocking_read_is_stopped_promptly) {
  auto blocking = rt->spawn_gateway(gateway_role::blocking);
  // Runs `cmd` on the blocking gateway from another thread.
  auto async_call = [&](command cmd) {
    return std::async(std::launch::async, [this, blocking, cmd] {
      client c{*sys, blocking, 30s};
      return c.call(cmd);
    });
  };
  // XREAD BLOCK 10000 on an empty stream, canceled after 50 ms.
  auto cmd = make_command("XREAD", "BLOCK", "10000", "STREAMS", "s", "$");
  cmd.timeout = 15s;
  auto t0 = std::chrono::steady_clock::now();
  auto pending = async_call(cmd);
  std::this_thread::sleep_for(50ms);
  // Meanwhile the shared gateway is not blocked.
  BOOST_TEST(redis()("PING")->str == "PONG");
  caf::anon_send(blocking, cancel_atom::value);
  auto res = pending.get();
  BOOST_REQUIRE(!res);
  BOOST_TEST(code_of(res.error()) == errc::canceled, render(res.error()));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
  // The blocking gateway reconnects and works again.
  client bc{*sys, blocking, 5s};
  BOOST_TEST(wait_until([&] { return bc("PING").engaged(); }, 5s));
  // A blocked read is answered by data written on another connection.
  auto read = make_command("XREAD", "BLOCK", "5000", "STREAMS", "s2", "$");
  read.timeout = 10s;
  auto reading = async_call(read);
  std::this_thread::sleep_for(50ms);
  redis()("XADD", "s2", "*", "n", "ev", "p", "payload");
  auto entry = reading.get();
  BOOST_REQUIRE_MESSAGE(entry, describe(entry));
  BOOST_TEST(entry->render().find("payload") != std::string::npos);
  // Exiting the actor also ends a blocked read at once.
  auto doomed = async_call(cmd);
  std::this_thread::sleep_for(50ms);
  t0 = std::chrono::steady_clock::now();
  caf::anon_send_exit(blocking, caf::exit_reason::user_shutdown);
  auto last = doomed.get();
  BOOST_REQUIRE(!last);
  BOOST_TEST(code_of(last.error()) == errc::closed, render(last.error()));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
}

BOOST_AUTO_TEST_CASE(a_request_sent_after_a_cancel_is_not_canceled) {
  // Requests skip the gateway's mailbox while connected; a cancel still
  // acts as a barrier in each sender's order.
  auto blocking = rt->spawn_gateway(gateway_role::blocking);
  client bc{*sys, blocking, 5s};
  BOOST_REQUIRE(wait_until([&] { return bc("PING").engaged(); }, 5s));
  auto read = make_command("XREAD", "BLOCK", "10000", "STREAMS", "s", "$");
  read.timeout = 15s;
  auto& s = *self;
  auto blocked = s->request(blocking, 20s, cmd_atom::value, read);
  std::this_thread::sleep_for(50ms);
  s->send(blocking, cancel_atom::value);
  auto ping = s->request(blocking, 20s, cmd_atom::value, make_command("PING"));
  blocked.receive([](resp::value&) { BOOST_FAIL("the read was not canceled"); },
                  [](caf::error& e) {
                    BOOST_TEST(code_of(e) == errc::canceled, render(e));
                  });
  ping.receive([](resp::value& v) { BOOST_TEST(v.str == "PONG"); },
               [](caf::error& e) { BOOST_FAIL("PING failed: " + render(e)); });
  caf::anon_send_exit(blocking, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(killed_gateway_still_answers_its_requests) {
  // exit_reason::kill skips exit handlers: pending requests must still get
  // an answer (callers may wait with caf::infinite).
  auto blocking = rt->spawn_gateway(gateway_role::blocking);
  auto cmd = make_command("BLPOP", "nothing", "10");
  cmd.timeout = 20s;
  auto pending = std::async(std::launch::async, [this, blocking, cmd] {
    client c{*sys, blocking}; // caf::infinite
    return c.call(cmd);
  });
  std::this_thread::sleep_for(50ms);
  auto t0 = std::chrono::steady_clock::now();
  caf::anon_send_exit(blocking, caf::exit_reason::kill);
  BOOST_REQUIRE(pending.wait_for(2s) == std::future_status::ready);
  auto res = pending.get();
  BOOST_REQUIRE(!res);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(gateway_auth)

BOOST_AUTO_TEST_CASE(wrong_password_is_a_clear_error) {
  server_options so;
  so.password = "right";
  redis_fixture fx{so};
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto opts = fx.redis_opts();
  opts.password = "wrong";
  auto gw = spawn_gateway(sys, opts);
  client c{sys, gw, 10s};
  auto t0 = std::chrono::steady_clock::now();
  auto res = c("PING");
  BOOST_REQUIRE(!res);
  BOOST_TEST(code_of(res.error()) == errc::auth_failed, render(res.error()));
  BOOST_TEST(render(res.error()).find("WRONGPASS") != std::string::npos,
             render(res.error()));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 <= opts.connect_timeout));
  // No password at all: NOAUTH on the first command, also auth_failed.
  auto gw2 = spawn_gateway(sys, fx.redis_opts());
  client c2{sys, gw2, 10s};
  auto res2 = c2("PING");
  BOOST_REQUIRE(!res2);
  BOOST_TEST(code_of(res2.error()) == errc::auth_failed, render(res2.error()));
  // The right password works.
  opts.password = "right";
  auto gw3 = spawn_gateway(sys, opts);
  client c3{sys, gw3, 10s};
  BOOST_TEST(c3("PING")->str == "PONG");
  for (auto& g : {gw, gw2, gw3})
    caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(acl_user_and_select) {
  redis_fixture fx;
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto admin = spawn_gateway(sys, fx.redis_opts());
  client a{sys, admin, 10s};
  BOOST_REQUIRE(a("ACL", "SETUSER", "alice", "on", ">pw", "~*", "+@all"));
  auto opts = fx.redis_opts();
  opts.username = "alice";
  opts.password = "pw";
  opts.db = 3;
  auto gw = spawn_gateway(sys, opts);
  client c{sys, gw, 10s};
  BOOST_TEST(c("SET", "in3", "x")->str == "OK");
  BOOST_TEST(c("ACL", "WHOAMI")->str == "alice");
  BOOST_TEST(a("GET", "in3")->is_nil());          // db 0
  BOOST_TEST(a("SELECT", "3")->str == "OK");
  BOOST_TEST(a("GET", "in3")->str == "x");
  opts.password = "nope";
  auto bad = spawn_gateway(sys, opts);
  client b{sys, bad, 10s};
  auto res = b("PING");
  BOOST_REQUIRE(!res);
  BOOST_TEST(code_of(res.error()) == errc::auth_failed, render(res.error()));
  for (auto& g : {admin, gw, bad})
    caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(unreachable_host_fails_within_connect_timeout) {
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto opts = test_redis_options(free_loopback_port()); // nobody listens
  auto gw = spawn_gateway(sys, opts);
  client c{sys, gw, 10s};
  auto t0 = std::chrono::steady_clock::now();
  auto res = c("PING");
  BOOST_REQUIRE(!res);
  BOOST_TEST(code_of(res.error()) == errc::connect_failed, render(res.error()));
  BOOST_TEST(render(res.error()).find("cannot connect to 127.0.0.1:")
               != std::string::npos,
             render(res.error()));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 <= opts.connect_timeout));
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
