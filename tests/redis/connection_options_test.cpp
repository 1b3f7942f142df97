// The `[pulse.redis]` connection options (url, unix-socket, tcp-keepalive,
// connect-wait, password) read from file, command line and environment:
// defaults, what a URL overrides, bad values stopping the program. No Redis
// needed.

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>

#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/print.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/text.hpp"

using namespace pulse;
using pulse::test::temp_dir;
using namespace std::chrono_literals;

using pulse::test::contains;

BOOST_AUTO_TEST_SUITE(redis_connection_options)

BOOST_AUTO_TEST_CASE(defaults) {
  redis_options o;
  BOOST_TEST((o.tcp_keepalive == caf::timespan{60s}));
  BOOST_TEST(o.connect_wait.count() == 0);
  BOOST_TEST(o.url.empty());
  BOOST_TEST(o.unix_socket.empty());
  BOOST_TEST(o.use_embedded());
  o.unix_socket = "/tmp/r.sock";
  BOOST_TEST(!o.use_embedded()); // a socket is a configured server
  o.unix_socket.clear();
  o.url = "redis://h";
  BOOST_TEST(!o.use_embedded());
}

BOOST_AUTO_TEST_CASE(url_from_the_file_overrides_host_port_db_and_password) {
  temp_dir dir;
  auto file = dir.write("c.conf", R"([pulse.redis]
host = "ignored"
port = 1111
db = 9
url = "redis://alice:p%40ss@10.0.0.5:6390/4"
tcp-keepalive = 15s
connect-wait = 30s
)");
  config cfg;
  auto err = cfg.read({"--config-file=" + file});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto& r = cfg.opts().redis;
  BOOST_TEST(r.url.empty()); // applied
  BOOST_TEST(r.host == "10.0.0.5");
  BOOST_TEST(r.port == 6390);
  BOOST_TEST(r.db == 4);
  BOOST_TEST(r.username == "alice");
  BOOST_TEST(r.password == "p@ss");
  BOOST_TEST((r.tcp_keepalive == caf::timespan{15s}));
  BOOST_TEST((r.connect_wait == caf::timespan{30s}));
  // The URL also wins over the command line's host.
  config cli;
  err = cli.read({"--config-file=" + file, "--pulse.redis.host=other"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(cli.opts().redis.host == "10.0.0.5");
  // unix-socket alone.
  config sock;
  err = sock.read({"--pulse.redis.unix-socket=/run/redis.sock",
                   "--pulse.redis.tcp-keepalive=0s"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(sock.opts().redis.unix_socket == "/run/redis.sock");
  BOOST_TEST(sock.opts().redis.tcp_keepalive.count() == 0);
  BOOST_TEST(!sock.opts().redis.use_embedded());
}

BOOST_AUTO_TEST_CASE(bad_urls_and_values_stop_the_program) {
  temp_dir dir;
  config port;
  auto err = port.read({"--config-file="
                   + dir.write("p.conf", "[pulse.redis]\nurl = "
                                         "\"redis://:hunter2@h:99999\"\n")});
  BOOST_TEST(code_of(err) == errc::invalid_config);
  BOOST_TEST(contains(render(err), "pulse.redis.url: port \"99999\""),
             render(err));
  BOOST_TEST(!contains(render(err), "hunter2"), render(err));
  config negative;
  err = negative.read({"--pulse.redis.connect-wait=-1s"});
  BOOST_TEST(contains(render(err), "pulse.redis.connect-wait must not be "
                                   "negative"),
             render(err));
  config typed;
  err = typed.read({"--config-file="
                    + dir.write("t.conf",
                                "[pulse.redis]\ntcp-keepalive = 60\n")});
  BOOST_TEST(contains(render(err), "pulse.redis.tcp-keepalive must be a "
                                   "duration"),
             render(err));
  // A password in the URL and a password file: one source only.
  config both;
  err = both.read({"--pulse.redis.url=redis://:pw@h",
                   "--pulse.redis.password-file="
                     + dir.write("pw", "secret\n")});
  BOOST_TEST(contains(render(err), "a password in url counts"), render(err));
}

BOOST_AUTO_TEST_CASE(the_environment_password_wins_over_the_url) {
  ::setenv("PULSE_REDIS_PASSWORD", "from-env", 1);
  config cfg;
  auto err = cfg.read({"--pulse.redis.url=redis://u:from-url@h/2"});
  ::unsetenv("PULSE_REDIS_PASSWORD");
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(cfg.opts().redis.password == "from-env");
  BOOST_TEST(cfg.opts().redis.username == "u");
  BOOST_TEST(cfg.opts().redis.db == 2);
}

BOOST_AUTO_TEST_SUITE_END()
