// Connecting to a real redis-server: Unix sockets for every connection kind,
// URLs with credentials and db, connect-wait for a Redis that starts late,
// TCP keepalive, and errors that name their cause.

#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <future>
#include <mutex>

#include <caf/all.hpp>

#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/pubsub_inbox.hpp"
#include "tests/support/sentinel_fixture.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/text.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

// A redis-server that also listens on a Unix socket in a temp directory.
struct unix_fixture {
  unix_fixture()
    : path(dir.path + "/redis.sock"), fx([this] {
        server_options so;
        so.extra_args = {"--unixsocket", path, "--unixsocketperm", "700"};
        return so;
      }()) {
    // nop
  }

  // Options that reach the server through the socket only.
  redis_options socket_opts() const {
    auto o = test_redis_options(1);
    o.host.clear();
    o.unix_socket = path;
    return o;
  }

  temp_dir dir;
  std::string path;
  redis_fixture fx;
};

// Info level: the tests look for the connect records.
options runtime_options(const redis_options& r) {
  options o;
  o.redis = r;
  o.log_level = "info";
  return o;
}

int sockopt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  if (::getsockopt(fd, level, name, &v, &len) != 0)
    return -2;
  return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(connecting)

BOOST_AUTO_TEST_CASE(unix_socket_carries_gateway_pubsub_and_blocking_reads) {
  unix_fixture ux;
  pulse::config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  log_capture logs;
  auto rt = runtime::start(sys, runtime_options(ux.socket_opts()));
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  BOOST_TEST(!(*rt)->embedded());
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(c("SET", "k", "v")->str == "OK");
  BOOST_TEST(c("GET", "k")->str == "v");
  // Pub/sub through the socket.
  auto box = std::make_shared<pubsub_inbox>();
  auto sub = sys.spawn(pubsub_inbox_subscriber, box);
  caf::scoped_actor self{sys};
  self->request((*rt)->pubsub(), 5s, sub_atom::value, std::string{"ch"}, sub)
    .receive([](bool ok) { BOOST_TEST(ok); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(*c("PUBLISH", "ch", "hello")->as_integer() == 1);
  BOOST_TEST(wait_until([&] { return box->size() == 1; }));
  // A blocking read on its own gateway, answered by an add.
  auto blocking = (*rt)->spawn_gateway(gateway_role::blocking);
  auto read = make_command("XREAD", "BLOCK", "5000", "STREAMS", "s", "$");
  read.timeout = 10s;
  auto reading = std::async(std::launch::async, [&] {
    client bc{sys, blocking, 15s};
    return bc.call(read);
  });
  // Wait until the read blocks, then add.
  BOOST_TEST(wait_until([&] {
    auto list = c("CLIENT", "LIST");
    return list && contains(list->str, "cmd=xread");
  }));
  c("XADD", "s", "*", "n", "ev", "p", "over-the-socket");
  auto entry = reading.get();
  BOOST_REQUIRE_MESSAGE(entry, describe(entry));
  BOOST_TEST(contains(entry->render(), "over-the-socket"));
  // Every connection of the runtime (pipelined, pub/sub, blocking) is a
  // Unix socket client: Redis shows the socket path as its address and
  // flag U; none came over TCP.
  auto list = c("CLIENT", "LIST")->str;
  size_t socket_clients = 0;
  for (size_t pos = 0; (pos = list.find("addr=" + ux.path, pos))
                       != std::string::npos;
       ++pos)
    ++socket_clients;
  BOOST_TEST(socket_clients >= 3u, list);
  BOOST_TEST(!contains(list, "addr=127.0.0.1"), list);
  BOOST_TEST(contains(c("CLIENT", "INFO")->str, "flags=U"));
  BOOST_TEST(logs.contains("endpoint=unix:" + ux.path));
  for (auto& a : {caf::actor_cast<caf::actor>(blocking),
                  caf::actor_cast<caf::actor>(sub)})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(unix_url_with_db_and_a_missing_socket) {
  unix_fixture ux;
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto o = test_redis_options(1);
  o.url = "unix://" + ux.path + "?db=2";
  auto rt = runtime::start(sys, runtime_options(o));
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  BOOST_TEST((*rt)->opts().redis.unix_socket == ux.path);
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(contains(c("CLIENT", "INFO")->str, " db=2 "));
  // A socket file that does not exist: connect_failed naming the path.
  auto gone = ux.socket_opts();
  gone.unix_socket = ux.dir.path + "/nope.sock";
  auto t0 = clock_type::now();
  auto bad = runtime::start(sys, runtime_options(gone));
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::connect_failed, render(bad.error()));
  BOOST_TEST(contains(render(bad.error()), "unix:" + gone.unix_socket),
             render(bad.error()));
  BOOST_TEST((clock_type::now() - t0 < 1s));
}

BOOST_AUTO_TEST_CASE(url_with_password_user_and_db_connects) {
  server_options so;
  so.password = "p@ss:w/rd";
  redis_fixture fx{so};
  pulse::config cfg;
  caf::actor_system sys{cfg};
  log_capture logs;
  // Read the way a program does: from the command line, then start.
  auto port = std::to_string(fx.port());
  pulse::config from_cli;
  auto err = from_cli.read(
    {"--pulse.redis.url=redis://:p%40ss%3Aw%2Frd@127.0.0.1:" + port + "/3",
     "--pulse.log.level=info"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto o = from_cli.opts();
  o.redis.connect_timeout = 1s;
  auto rt = runtime::start(sys, o);
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(c("SET", "in3", "x")->str == "OK");
  // The key landed in db 3, seen from a connection of its own.
  auto admin_opts = fx.redis_opts();
  admin_opts.password = so.password;
  auto admin = spawn_gateway(sys, admin_opts);
  client a{sys, admin, 10s};
  BOOST_TEST(a("GET", "in3")->is_nil()); // db 0
  BOOST_TEST(a("SELECT", "3")->str == "OK");
  BOOST_TEST(a("GET", "in3")->str == "x");
  // An ACL user in the URL: AUTH <user> <password>.
  BOOST_REQUIRE(a("ACL", "SETUSER", "alice", "on", ">al%ce", "~*", "&*",
                  "+@all"));
  options u;
  u.redis = fx.redis_opts();
  u.redis.url = "redis://alice:al%25ce@127.0.0.1:" + port + "/3";
  u.log_level = "info";
  auto rt2 = runtime::start(sys, u); // url applied by start itself
  BOOST_REQUIRE_MESSAGE(rt2, describe(rt2));
  client c2{sys, (*rt2)->gateway(), 10s};
  BOOST_TEST(c2("ACL", "WHOAMI")->str == "alice");
  BOOST_TEST(c2("GET", "in3")->str == "x");
  // A wrong password stays auth_failed, without the password in the text.
  u.redis.url = "redis://alice:wr0ngpw@127.0.0.1:" + port;
  auto bad = runtime::start(sys, u);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::auth_failed, render(bad.error()));
  BOOST_TEST(!contains(render(bad.error()), "wr0ngpw"), render(bad.error()));
  // No record of the project logger holds a password.
  for (auto pw : {"p@ss:w/rd", "p%40ss", "al%ce", "al%25ce", "wr0ngpw"})
    BOOST_TEST(!logs.contains(pw), pw);
  BOOST_TEST(logs.contains("endpoint=127.0.0.1:" + port));
  caf::anon_send_exit(admin, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(connect_wait_waits_for_a_redis_that_starts_late) {
  auto port = free_loopback_port();
  pulse::config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  log_capture logs;
  auto o = test_redis_options(port);
  o.connect_wait = 5s;
  auto t0 = clock_type::now();
  auto starting = std::async(std::launch::async, [&] {
    return runtime::start(sys, runtime_options(o));
  });
  std::this_thread::sleep_for(1s);
  BOOST_TEST((starting.wait_for(0s) == std::future_status::timeout));
  server_options so;
  so.port = port;
  auto srv = redis_server::start(so);
  BOOST_REQUIRE_MESSAGE(srv, describe(srv));
  auto rt = starting.get();
  auto waited = clock_type::now() - t0;
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  BOOST_TEST((waited >= 1s));
  BOOST_TEST((waited < 4s));
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(c("PING")->str == "PONG");
  // Rate-limited: one line at the first failure (the next after 5 s).
  BOOST_TEST(logs.count("waiting for redis endpoint=127.0.0.1:"
                        + std::to_string(port))
             == 1u);
  rt->reset();
}

BOOST_AUTO_TEST_CASE(without_connect_wait_a_refused_start_fails_fast) {
  auto port = free_loopback_port(); // nobody listens
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto o = test_redis_options(port);
  auto t0 = clock_type::now();
  auto rt = runtime::start(sys, runtime_options(o));
  BOOST_REQUIRE(!rt);
  BOOST_TEST((clock_type::now() - t0 < 500ms));
  BOOST_TEST(code_of(rt.error()) == errc::connect_failed, render(rt.error()));
  BOOST_TEST(contains(render(rt.error()),
                      "cannot connect to 127.0.0.1:" + std::to_string(port)),
             render(rt.error()));
  // A short wait that runs out: connect_failed naming the wait.
  o.connect_wait = 300ms;
  t0 = clock_type::now();
  rt = runtime::start(sys, runtime_options(o));
  auto took = clock_type::now() - t0;
  BOOST_REQUIRE(!rt);
  BOOST_TEST(code_of(rt.error()) == errc::connect_failed, render(rt.error()));
  BOOST_TEST(contains(render(rt.error()), "pulse.redis.connect-wait (300ms"),
             render(rt.error()));
  BOOST_TEST((took >= 300ms));
  BOOST_TEST((took < 1s));
}

BOOST_AUTO_TEST_CASE(tcp_keepalive_is_set_on_the_socket) {
  redis_fixture fx;
  // Default: 60 s idle, probes every 20 s, 3 probes.
  auto o = fx.redis_opts();
  auto s = connect_redis(o);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  BOOST_TEST(sockopt(s->conn->fd(), SOL_SOCKET, SO_KEEPALIVE) == 1);
  BOOST_TEST(sockopt(s->conn->fd(), IPPROTO_TCP, TCP_KEEPIDLE) == 60);
  BOOST_TEST(sockopt(s->conn->fd(), IPPROTO_TCP, TCP_KEEPINTVL) == 20);
  BOOST_TEST(sockopt(s->conn->fd(), IPPROTO_TCP, TCP_KEEPCNT) == 3);
  BOOST_TEST(sockopt(s->conn->fd(), IPPROTO_TCP, TCP_NODELAY) == 1);
  s->conn.reset();
  // Rounded up to whole seconds; the interval at least 1 s.
  o.tcp_keepalive = 1500ms;
  s = connect_redis(o);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  BOOST_TEST(sockopt(s->conn->fd(), IPPROTO_TCP, TCP_KEEPIDLE) == 2);
  BOOST_TEST(sockopt(s->conn->fd(), IPPROTO_TCP, TCP_KEEPINTVL) == 1);
  s->conn.reset();
  // 0: off.
  o.tcp_keepalive = caf::timespan{0};
  s = connect_redis(o);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  BOOST_TEST(sockopt(s->conn->fd(), SOL_SOCKET, SO_KEEPALIVE) == 0);
  s->conn.reset();
}

BOOST_AUTO_TEST_CASE(out_of_range_db_is_a_config_error) {
  server_options so;
  so.password = "pw";
  redis_fixture fx{so};
  auto o = fx.redis_opts();
  o.password = "pw";
  o.db = 16; // databases 0..15
  auto s = connect_redis(o);
  BOOST_REQUIRE(!s);
  BOOST_TEST(code_of(s.error()) == errc::invalid_config, render(s.error()));
  BOOST_TEST(contains(render(s.error()), "pulse.redis.db = 16"),
             render(s.error()));
  BOOST_TEST(contains(render(s.error()), "DB index is out of range"),
             render(s.error()));
  // The runtime reports it the same way, at once.
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto t0 = clock_type::now();
  auto rt = runtime::start(sys, runtime_options(o));
  BOOST_REQUIRE(!rt);
  BOOST_TEST(code_of(rt.error()) == errc::invalid_config, render(rt.error()));
  BOOST_TEST((clock_type::now() - t0 < 500ms));
  // Not retried by connect-wait either: it is no transient failure.
  o.connect_wait = 5s;
  t0 = clock_type::now();
  rt = runtime::start(sys, runtime_options(o));
  BOOST_TEST(code_of(rt.error()) == errc::invalid_config, render(rt.error()));
  BOOST_TEST((clock_type::now() - t0 < 500ms));
  // SELECT without the password needed: NOAUTH is auth_failed.
  o.password.clear();
  o.db = 3;
  s = connect_redis(o);
  BOOST_REQUIRE(!s);
  BOOST_TEST(code_of(s.error()) == errc::auth_failed, render(s.error()));
  // A wrong password: auth_failed (not retried by connect-wait).
  o.password = "wrong";
  t0 = clock_type::now();
  rt = runtime::start(sys, runtime_options(o));
  BOOST_REQUIRE(!rt);
  BOOST_TEST(code_of(rt.error()) == errc::auth_failed, render(rt.error()));
  BOOST_TEST(contains(render(rt.error()), "127.0.0.1:"
                                            + std::to_string(fx.port())),
             render(rt.error()));
  BOOST_TEST((clock_type::now() - t0 < 500ms));
}

BOOST_AUTO_TEST_CASE(a_server_at_maxclients_is_a_connect_failure) {
  redis_fixture fx;
  auto o = fx.redis_opts();
  // One connection stays open; the limit drops to it.
  auto held = connect_redis(o);
  BOOST_REQUIRE_MESSAGE(held, describe(held));
  auto set = command_on(fx.port(), {"CONFIG", "SET", "maxclients", "1"});
  BOOST_REQUIRE(set && !set->is_error());
  auto s = connect_redis(o);
  BOOST_REQUIRE(!s);
  // Not a credential problem: a transient refusal, retried like one.
  BOOST_TEST(code_of(s.error()) == errc::connect_failed, render(s.error()));
  BOOST_TEST(contains(render(s.error()), "max number of clients reached"),
             render(s.error()));
  held->conn.reset();
  BOOST_TEST(wait_until([&] {
    auto r = command_on(fx.port(), {"CONFIG", "SET", "maxclients", "10000"});
    return r && !r->is_error();
  }));
}

BOOST_AUTO_TEST_SUITE_END()
