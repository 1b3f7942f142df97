// TLS against real redis-servers with a TLS port and certificates the
// fixture makes with openssl: every connection kind (pipelined gateway,
// blocking gateway, pub/sub, the blocking client) over TLS, and a clear
// error for each way a TLS connection fails.

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/tls.hpp"
#include "pulse/actors/streaming/reader.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/collector.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/pubsub_inbox.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/tls_fixture.hpp"
#include "tests/support/text.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

options runtime_options(const redis_options& r) {
  options o;
  o.redis = r;
  o.log_level = "warn";
  return o;
}

// Counts occurrences of `part` in `text`.
size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find(part, pos)) != std::string::npos;
       ++pos)
    ++n;
  return n;
}

// Connects once with `o` and returns the error text (empty on success).
std::string connect_error(const redis_options& o, errc expected) {
  auto s = connect_redis(o);
  if (s)
    return {};
  BOOST_TEST(code_of(s.error()) == expected, render(s.error()));
  return render(s.error());
}

} // namespace

// A two-thread actor system config (first base of `tls_system`, so it is
// ready before the system).
struct two_thread_config {
  two_thread_config() {
    cfg.set("scheduler.max-threads", 2);
  }
  pulse::config cfg;
};

// Fixture: the test certificates, a TLS server requiring client
// certificates, and an actor system.
struct tls_system : two_thread_config {
  tls_certs certs;
  tls_redis srv{certs};
  caf::actor_system sys{cfg};
};

BOOST_AUTO_TEST_SUITE(tls)

BOOST_FIXTURE_TEST_CASE(every_connection_kind_runs_over_tls, tls_system) {
  auto rt = runtime::start(sys, runtime_options(srv.opts()));
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  // The blocking client on the pipelined gateway.
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(c("SET", "k", "v")->str == "OK");
  BOOST_TEST(c("GET", "k")->str == "v");
  // A value of many TLS records (16 KiB each): the reader must drain what
  // OpenSSL buffered, which poll() cannot see.
  std::string big(1024 * 1024 + 7, 'x');
  for (size_t i = 0; i < big.size(); i += 4093)
    big[i] = static_cast<char>('a' + i % 26);
  BOOST_TEST(c("SET", "big", big)->str == "OK");
  auto got = c("GET", "big");
  BOOST_REQUIRE_MESSAGE(got, describe(got));
  BOOST_TEST((got->str == big));
  // Concurrent senders on one TLS session (the direct entry writes from
  // the callers' threads while the reader thread reads).
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      client tc{sys, (*rt)->gateway(), 10s};
      for (int i = 0; i < 500; ++i) {
        auto key = "t" + std::to_string(t) + ":" + std::to_string(i);
        auto r = tc("SET", key, std::string(100 + i * 7, 'v'));
        if (r && r->str == "OK")
          ++ok;
      }
    });
  for (auto& th : threads)
    th.join();
  BOOST_TEST(ok.load() == 1500);
  auto batch = c.batch({make_command("GET", "t2:499"),
                        make_command("STRLEN", "t1:250")});
  BOOST_REQUIRE_MESSAGE(batch, describe(batch));
  BOOST_TEST((*batch)[0].str.size() == 100u + 499u * 7u);
  BOOST_TEST(*(*batch)[1].as_integer() == 100 + 250 * 7);
  // Pub/sub over TLS.
  auto box = std::make_shared<pubsub_inbox>();
  auto sub = sys.spawn(pubsub_inbox_subscriber, box);
  caf::scoped_actor self{sys};
  self->request((*rt)->pubsub(), 5s, sub_atom::value, std::string{"ch"}, sub)
    .receive([](bool ok) { BOOST_TEST(ok); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(*c("PUBLISH", "ch", "hello")->as_integer() == 1);
  BOOST_TEST(wait_until([&] { return box->size() == 1; }));
  // A blocking read on its own gateway, answered by a stream add.
  auto st = stream::make("s");
  BOOST_REQUIRE_MESSAGE(st, describe(st));
  auto blocking = (*rt)->spawn_gateway(gateway_role::blocking);
  auto read = make_command("XREAD", "BLOCK", "5000", "STREAMS", st->key(),
                           "$");
  read.timeout = 10s;
  auto reading = std::async(std::launch::async, [&] {
    client bc{sys, blocking, 15s};
    return bc.call(read);
  });
  BOOST_TEST(wait_until([&] {
    auto list = c("CLIENT", "LIST");
    return list && contains(list->str, "cmd=xread");
  }));
  auto id = st->add(c, "ev", "over-tls");
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  auto entry = reading.get();
  BOOST_REQUIRE_MESSAGE(entry, describe(entry));
  BOOST_TEST(contains(entry->render(), "over-tls"));
  // Every connection (pipelined, pub/sub, blocking) came in on the TLS
  // port; none on the plain one.
  auto list = c("CLIENT", "LIST")->str;
  auto tls_addr = "laddr=127.0.0.1:" + std::to_string(srv.tls_port) + " ";
  auto plain_addr = "laddr=127.0.0.1:" + std::to_string(srv.port()) + " ";
  BOOST_TEST(count(list, tls_addr) >= 3u, list);
  BOOST_TEST(count(list, plain_addr) == 0u, list);
  for (auto& a : {caf::actor_cast<caf::actor>(blocking),
                  caf::actor_cast<caf::actor>(sub)})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(stream_reader_receives_events_over_tls, tls_system) {
  auto rt = runtime::start(sys, runtime_options(srv.opts()));
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  reader_options ro;
  ro.block = 50ms;
  auto r = spawn_reader(**rt, {"s"}, ro);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  auto box = std::make_shared<event_inbox>();
  auto sub = sys.spawn(collector, box, caf::actor{});
  caf::scoped_actor self{sys};
  self->request(*r, 5s, sub_atom::value,
                caf::actor_cast<event_subscriber_actor>(sub))
    .receive([](bool ok) { BOOST_TEST(ok); },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  client c{sys, (*rt)->gateway(), 10s};
  auto st = stream::make("s");
  BOOST_REQUIRE_MESSAGE(st, describe(st));
  for (int i = 0; i < 200; ++i) {
    auto id = st->add(c, "ev", "p" + std::to_string(i) + std::string(i * 50,
                                                                      'x'));
    BOOST_REQUIRE_MESSAGE(id, describe(id));
  }
  BOOST_TEST(wait_until([&] { return box->size() == 200; }, 10s),
             box->size());
  auto events = box->snapshot();
  BOOST_REQUIRE(events.size() == 200u);
  BOOST_TEST(events[199].payload.compare(0, 4, "p199") == 0);
  BOOST_TEST(events[199].payload.size() == 4u + 199u * 50u);
  for (auto& a : {caf::actor_cast<caf::actor>(*r), sub})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(further_connections_resume_the_tls_session,
                        tls_system) {
  // Connecting reads the `CLIENT ID` reply, and with it the session ticket
  // the server sent after the handshake (TLS 1.3).
  auto connect_once = [&](const redis_options& o) {
    auto before = detail::tls_sessions_resumed();
    auto s = connect_redis(o);
    BOOST_REQUIRE_MESSAGE(s, describe(s));
    return detail::tls_sessions_resumed() - before;
  };
  // The first connection to this server: a full handshake; the next ones
  // resume its session.
  BOOST_TEST(connect_once(srv.opts()) == 0u);
  BOOST_TEST(connect_once(srv.opts()) == 1u);
  BOOST_TEST(connect_once(srv.opts()) == 1u);
  // Other TLS options (no verification) never reuse a verified session.
  auto loose = srv.opts();
  loose.tls_verify = false;
  BOOST_TEST(connect_once(loose) == 0u);
  BOOST_TEST(connect_once(loose) == 1u);
  // A runtime's connections resume too, and work.
  auto before = detail::tls_sessions_resumed();
  auto rt = runtime::start(sys, runtime_options(srv.opts()));
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(c("SET", "k", "v")->str == "OK");
  BOOST_TEST(detail::tls_sessions_resumed() > before);
}

BOOST_FIXTURE_TEST_CASE(a_rotated_ca_file_applies_at_the_next_connect,
                        tls_system) {
  auto o = srv.opts();
  o.tls_ca_file = certs.file("rotating-ca.crt");
  // Rotates the way deployments do: a new file renamed over the old one.
  auto install = [&](const std::string& from) {
    std::ifstream in{certs.file(from), std::ios::binary};
    std::ofstream out{o.tls_ca_file + ".new", std::ios::binary};
    out << in.rdbuf();
    out.close();
    BOOST_REQUIRE(std::rename((o.tls_ca_file + ".new").c_str(),
                              o.tls_ca_file.c_str())
                  == 0);
  };
  install("ca.crt");
  BOOST_TEST(connect_error(o, errc::none).empty());
  auto before = detail::tls_sessions_resumed();
  BOOST_TEST(connect_error(o, errc::none).empty());
  BOOST_TEST(detail::tls_sessions_resumed() == before + 1);
  // A certificate that is no CA of the server in its place: neither the
  // cached context nor the cached session hides the change.
  install("wrongca-server.crt");
  auto text = connect_error(o, errc::tls_failed);
  BOOST_TEST(contains(text, "certificate verify failed"), text);
  install("ca.crt");
  BOOST_TEST(connect_error(o, errc::none).empty());
}

BOOST_AUTO_TEST_CASE(rediss_url_and_server_name_connect) {
  tls_certs certs;
  tls_redis srv{certs, "server.crt", false};
  pulse::config cfg;
  caf::actor_system sys{cfg};
  // rediss:// turns TLS on; no client certificate needed here.
  auto o = test_redis_options(1);
  o.url = "rediss://127.0.0.1:" + std::to_string(srv.tls_port) + "/2";
  o.tls_ca_file = certs.file("ca.crt");
  auto rt = runtime::start(sys, runtime_options(o));
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  BOOST_TEST((*rt)->opts().redis.tls);
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(contains(c("CLIENT", "INFO")->str, " db=2 "));
  // A DNS name as the server name (checked against the certificate and
  // sent as SNI) while connecting to the address.
  auto named = srv.opts();
  named.tls_server_name = "localhost";
  BOOST_TEST(connect_error(named, errc::none).empty());
}

BOOST_AUTO_TEST_CASE(wrong_ca_fails_and_verify_off_connects) {
  tls_certs certs;
  tls_redis srv{certs, "wrongca-server.crt", false};
  auto text = connect_error(srv.opts(), errc::tls_failed);
  BOOST_TEST(contains(text, "certificate verify failed (unable to get local "
                            "issuer certificate)"),
             text);
  BOOST_TEST(contains(text, "127.0.0.1:" + std::to_string(srv.tls_port)),
             text);
  BOOST_TEST(contains(text, "pulse.redis.tls-ca-file"), text);
  // The runtime fails at once with the same cause (no connect-wait retry).
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto o = srv.opts();
  o.connect_wait = 5s;
  auto t0 = clock_type::now();
  auto rt = runtime::start(sys, runtime_options(o));
  BOOST_REQUIRE(!rt);
  BOOST_TEST(code_of(rt.error()) == errc::tls_failed, render(rt.error()));
  BOOST_TEST(contains(render(rt.error()), "unable to get local issuer"));
  BOOST_TEST((clock_type::now() - t0 < 2s));
  // tls-verify = false accepts the certificate.
  o.tls_verify = false;
  rt = runtime::start(sys, runtime_options(o));
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(c("PING")->str == "PONG");
}

BOOST_AUTO_TEST_CASE(expired_certificate_fails) {
  tls_certs certs;
  tls_redis srv{certs, "expired.crt", false};
  auto text = connect_error(srv.opts(), errc::tls_failed);
  BOOST_TEST(contains(text, "certificate verify failed (certificate has "
                            "expired)"),
             text);
}

BOOST_AUTO_TEST_CASE(wrong_host_name_fails) {
  tls_certs certs;
  // The certificate names other.example only; we connect to 127.0.0.1.
  tls_redis other{certs, "othername.crt", false};
  auto text = connect_error(other.opts(), errc::tls_failed);
  BOOST_TEST(contains(text, "certificate verify failed (IP address "
                            "mismatch)"),
             text);
  BOOST_TEST(contains(text, "not for \"127.0.0.1\""), text);
  BOOST_TEST(contains(text, "pulse.redis.tls-server-name"), text);
  // With the name it holds, it connects.
  auto o = other.opts();
  o.tls_server_name = "other.example";
  BOOST_TEST(connect_error(o, errc::none).empty());
  // A good certificate, but a server name it does not hold.
  tls_redis good{certs, "server.crt", false};
  o = good.opts();
  o.tls_server_name = "redis.example";
  text = connect_error(o, errc::tls_failed);
  BOOST_TEST(contains(text, "certificate verify failed (hostname "
                            "mismatch)"),
             text);
}

BOOST_AUTO_TEST_CASE(missing_client_certificate_fails) {
  tls_certs certs;
  tls_redis srv{certs, "server.crt", true};
  auto o = srv.opts();
  o.tls_cert_file.clear();
  o.tls_key_file.clear();
  // TLS 1.3: the handshake completes; the server's rejection shows at the
  // first command. Either way the error names the client certificate.
  for (int i = 0; i < 5; ++i) {
    auto text = connect_error(o, errc::tls_failed);
    BOOST_TEST(contains(text, "client certificate"), text);
    BOOST_TEST(contains(text, "pulse.redis.tls-cert-file"), text);
  }
  // A gateway keeps retrying, and a request fails with the cause.
  pulse::config cfg;
  caf::actor_system sys{cfg};
  auto gw = spawn_gateway(sys, o, gateway_role::pipelined);
  client c{sys, gw, 10s};
  auto r = c("PING");
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::tls_failed, render(r.error()));
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(tls_options_that_do_not_fit_are_config_errors) {
  tls_certs certs;
  tls_redis srv{certs, "server.crt", false};
  auto o = srv.opts();
  o.tls_ca_file = certs.file("no-such-ca.crt");
  auto text = connect_error(o, errc::invalid_config);
  BOOST_TEST(contains(text, "pulse.redis.tls-ca-file"), text);
  BOOST_TEST(contains(text, "No such file"), text);
  o = srv.opts();
  o.tls_key_file.clear();
  text = connect_error(o, errc::invalid_config);
  BOOST_TEST(contains(text, "must be set together"), text);
  o = srv.opts();
  o.tls_key_file = certs.file("ca.key"); // not the certificate's key
  text = connect_error(o, errc::invalid_config);
  BOOST_TEST(contains(text, "pulse.redis.tls-key-file"), text);
  BOOST_TEST(contains(text, "key values mismatch"), text);
  o = srv.opts();
  o.unix_socket = "/tmp/redis.sock";
  text = connect_error(o, errc::invalid_config);
  BOOST_TEST(contains(text, "TLS on TCP only"), text);
  // TLS against the plain port: the handshake fails, naming the cause.
  o = srv.opts();
  o.port = srv.port();
  auto s = connect_redis(o);
  BOOST_REQUIRE(!s);
  BOOST_TEST(contains(render(s.error()), "TLS handshake with 127.0.0.1:"
                                           + std::to_string(srv.port())),
             render(s.error()));
  // The embedded server is plain: tls with no host is an error.
  pulse::config cfg;
  caf::actor_system sys{cfg};
  redis_options none;
  none.tls = true;
  auto rt = runtime::start(sys, runtime_options(none));
  BOOST_REQUIRE(!rt);
  BOOST_TEST(code_of(rt.error()) == errc::invalid_config, render(rt.error()));
}

BOOST_FIXTURE_TEST_CASE(tls_server_killed_and_restarted, tls_system) {
  // The default action: a write that raised SIGPIPE would end the process
  // (Boost.Test may have installed a handler of its own).
  std::signal(SIGPIPE, SIG_DFL);
  auto rt = runtime::start(sys, runtime_options(srv.opts()));
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  client c{sys, (*rt)->gateway(), 10s};
  BOOST_TEST(c("SET", "k", "v")->str == "OK");
  // Senders keep writing while the server dies: no SIGPIPE, no hang.
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::thread writer{[&] {
    client wc{sys, (*rt)->gateway(), 10s};
    while (!stop)
      if (!wc("SET", "w", std::string(4096, 'w')))
        ++errors;
  }};
  std::this_thread::sleep_for(50ms);
  srv.server->kill();
  BOOST_TEST(wait_until([&] { return errors.load() > 0; }, 5s));
  auto down = c("PING");
  BOOST_TEST(!down);
  BOOST_REQUIRE(!srv.server->restart());
  BOOST_TEST(wait_until([&] {
    auto r = c("PING");
    return r && r->str == "PONG";
  }, 10s));
  stop = true;
  writer.join();
}

BOOST_AUTO_TEST_SUITE_END()
