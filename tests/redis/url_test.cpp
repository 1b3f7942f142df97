// Redis URLs: every form parsed (redis+sentinel:// included), every
// malformed part named, and applied to options. The `[pulse.redis]`
// options that carry them: connection_options_test.cpp. No Redis needed.

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/print.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/text.hpp"

using namespace pulse;
using pulse::test::temp_dir;
using namespace std::chrono_literals;

using pulse::test::contains;

namespace {

redis_url parsed(const std::string& url) {
  auto u = parse_redis_url(url);
  BOOST_REQUIRE_MESSAGE(u, url + ": " + describe(u));
  return std::move(*u);
}

// Options with every field a URL can set already set.
redis_options configured() {
  redis_options o;
  o.host = "old";
  o.port = 1234;
  o.unix_socket = "/old.sock";
  o.db = 7;
  o.username = "olduser";
  o.password = "oldpw";
  return o;
}

// Each URL fails with `invalid_config`, a message starting with the
// option's key and holding the paired text, and never "hunter2" (which
// stands for a password).
void check_malformed(
  const std::vector<std::pair<std::string, std::string>>& cases) {
  for (auto& c : cases) {
    const auto& url = c.first;
    const auto& part = c.second;
    auto u = parse_redis_url(url);
    BOOST_TEST_CONTEXT("url: " << url) {
      BOOST_REQUIRE(!u);
      BOOST_TEST(code_of(u.error()) == errc::invalid_config);
      auto text = render(u.error());
      BOOST_TEST(contains(text, "pulse.redis.url: "), text);
      BOOST_TEST(contains(text, part), text);
      BOOST_TEST(!contains(text, "hunter2"), text);
    }
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_url_parsing)

BOOST_AUTO_TEST_CASE(tcp_urls_give_host_port_and_db) {
  auto u = parsed("redis://10.1.2.3:6390/2");
  BOOST_TEST(u.host == "10.1.2.3");
  BOOST_TEST(u.port == 6390);
  BOOST_TEST(u.unix_socket.empty());
  BOOST_TEST((u.db && *u.db == 2));
  BOOST_TEST(!u.username);
  BOOST_TEST(!u.password);
  // Defaults: port 6379, no db; a lone '/' names no db either.
  for (auto text : {"redis://redis", "redis://redis/", "REDIS://redis"}) {
    auto d = parsed(text);
    BOOST_TEST(d.host == "redis", text);
    BOOST_TEST(d.port == 6379, text);
    BOOST_TEST(!d.db, text);
  }
  BOOST_TEST(parsed("redis://cache-1.internal_x:1").port == 1);
  BOOST_TEST(parsed("redis://h:65535").port == 65535);
  // db in the query instead of the path.
  auto q = parsed("redis://h?db=4");
  BOOST_TEST((q.db && *q.db == 4));
  // IPv6 in brackets.
  auto v6 = parsed("redis://[::1]:6390/1");
  BOOST_TEST(v6.host == "::1");
  BOOST_TEST(v6.port == 6390);
  redis_options o;
  o.host = v6.host;
  o.port = v6.port;
  BOOST_TEST(o.endpoint() == "[::1]:6390");
}

BOOST_AUTO_TEST_CASE(credentials_are_percent_decoded) {
  auto u = parsed("redis://al%40ice:p%3Aw%2F%25d%20x@host:7000/5");
  BOOST_TEST(*u.username == "al@ice");
  BOOST_TEST(*u.password == "p:w/%d x");
  BOOST_TEST(u.host == "host");
  BOOST_TEST(u.port == 7000);
  BOOST_TEST(*u.db == 5);
  // A password alone: the user is empty (plain AUTH <password>).
  auto p = parsed("redis://:s3cret@h");
  BOOST_TEST(*u.password != *p.password);
  BOOST_TEST(p.username->empty());
  BOOST_TEST(*p.password == "s3cret");
  // Unencoded '@', '/', '?', '#' and ':' in a password: the user info
  // ends at the last '@'.
  auto raw = parsed("redis://u:p@ss/w?r#d:x@h:1/0");
  BOOST_TEST(*raw.username == "u");
  BOOST_TEST(*raw.password == "p@ss/w?r#d:x");
  BOOST_TEST(raw.host == "h");
  BOOST_TEST(*raw.db == 0);
  // Upper-case escapes.
  BOOST_TEST(*parsed("redis://:%2A%2a@h").password == "**");
}

BOOST_AUTO_TEST_CASE(unix_urls_give_the_socket_path_and_db) {
  auto u = parsed("unix:///run/redis/redis.sock");
  BOOST_TEST(u.unix_socket == "/run/redis/redis.sock");
  BOOST_TEST(u.host.empty());
  BOOST_TEST(!u.db);
  auto d = parsed("unix:///run/redis.sock?db=3");
  BOOST_TEST(d.unix_socket == "/run/redis.sock");
  BOOST_TEST((d.db && *d.db == 3));
  // The short form, with a percent-escaped path.
  auto s = parsed("unix:/tmp/my%20redis.sock?db=1");
  BOOST_TEST(s.unix_socket == "/tmp/my redis.sock");
  BOOST_TEST(*s.db == 1);
  // Credentials before the path.
  auto c = parsed("unix://bob:pw%21@/tmp/r.sock?db=2");
  BOOST_TEST(*c.username == "bob");
  BOOST_TEST(*c.password == "pw!");
  BOOST_TEST(c.unix_socket == "/tmp/r.sock");
  BOOST_TEST(*c.db == 2);
  redis_options o;
  o.unix_socket = c.unix_socket;
  BOOST_TEST(o.endpoint() == "unix:/tmp/r.sock");
}

BOOST_AUTO_TEST_CASE(rediss_urls_turn_tls_on) {
  auto u = parsed("rediss://:hunter2@cache.example.com:6380/1");
  BOOST_TEST(u.tls);
  BOOST_TEST(u.host == "cache.example.com");
  BOOST_TEST(u.port == 6380);
  BOOST_TEST((u.db && *u.db == 1));
  BOOST_TEST(*u.password == "hunter2");
  for (auto text : {"REDISS://h", "rediss://h/", "rediss://[::1]"}) {
    auto d = parsed(text);
    BOOST_TEST(d.tls, text);
    BOOST_TEST(d.port == 6379, text);
  }
  BOOST_TEST(!parsed("redis://h").tls);
  BOOST_TEST(!parsed("unix:///tmp/r.sock").tls);
  // Applied: rediss:// turns tls on; redis:// leaves it as configured.
  redis_options o;
  o.url = "rediss://user:pw@10.0.0.5:7000?db=3";
  BOOST_REQUIRE(!apply_redis_url(o));
  BOOST_TEST(o.tls);
  BOOST_TEST(o.host == "10.0.0.5");
  BOOST_TEST(o.port == 7000);
  BOOST_TEST(o.db == 3);
  BOOST_TEST(o.username == "user");
  BOOST_TEST(o.url.empty());
  o.url = "redis://h";
  BOOST_REQUIRE(!apply_redis_url(o));
  BOOST_TEST(o.tls);
  redis_options plain;
  plain.url = "redis://h";
  BOOST_REQUIRE(!apply_redis_url(plain));
  BOOST_TEST(!plain.tls);
  // From the command line with the other TLS options; booleans are CLI
  // flags (no "=false"), so tls-verify = false comes from the file.
  temp_dir dir;
  config cli;
  auto err = cli.read({"--config-file="
                         + dir.write("v.conf",
                                     "[pulse.redis]\ntls-verify = false\n"),
                       "--pulse.redis.url=rediss://h:6380",
                       "--pulse.redis.tls-ca-file=/etc/ca.crt",
                       "--pulse.redis.tls-cert-file=/etc/c.crt",
                       "--pulse.redis.tls-key-file=/etc/c.key",
                       "--pulse.redis.tls-server-name=redis.internal"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  auto& r = cli.opts().redis;
  BOOST_TEST(r.tls);
  BOOST_TEST(r.port == 6380);
  BOOST_TEST(r.tls_ca_file == "/etc/ca.crt");
  BOOST_TEST(r.tls_cert_file == "/etc/c.crt");
  BOOST_TEST(r.tls_key_file == "/etc/c.key");
  BOOST_TEST(r.tls_server_name == "redis.internal");
  BOOST_TEST(!r.tls_verify);
  // Defaults: off, verification on; the flag turns TLS on.
  config flag;
  err = flag.read({"--pulse.redis.tls"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(flag.opts().redis.tls);
  config none;
  err = none.read({"--config-file=" + dir.write("e.conf", "")});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(!none.opts().redis.tls);
  BOOST_TEST(none.opts().redis.tls_verify);
}

BOOST_AUTO_TEST_CASE(malformed_urls_name_the_bad_part_not_the_password) {
  // url, a part of the expected message. "hunter2" stands for a password
  // and must never show up.
  std::vector<std::pair<std::string, std::string>> cases{
    {"", "is empty"},
    {"rediss:h", "write rediss://host, with two slashes"},
    {"rediss://:hunter2@", "names no host"},
    {"rediss://h:0", "port \"0\" is not a number in 1..65535"},
    {"http://h", "unknown scheme \"http\""},
    {"hunter2@h:1", "has no scheme"},
    {"redis:h", "two slashes"},
    {"redis://", "names no host"},
    {"redis://:hunter2@", "names no host"},
    {"redis://:hunter2@/3", "names no host"},
    {"redis://h:0", "port \"0\" is not a number in 1..65535"},
    {"redis://h:70000", "port \"70000\" is not a number in 1..65535"},
    {"redis://h:6x", "port \"6x\""},
    {"redis://h:", "the port after ':' is empty"},
    {"redis://h/abc", "db \"abc\" in the path is not a number >= 0"},
    {"redis://h/-1", "db \"-1\" in the path"},
    {"redis://h/1/2", "db \"1/2\" in the path"},
    {"redis://h/99999999999999999999", "db \"99999999999999999999\""},
    {"redis://hunter2@h", "the part before '@' has no ':'"},
    {"redis://u:hunter2%zz@h", "bad percent-escape in the password"},
    {"redis://u:hunter2%4@h", "bad percent-escape in the password"},
    {"redis://u%2:hunter2@h", "bad percent-escape in the user name"},
    {"redis://u:@h", "the password after ':' is empty"},
    {"redis://[::1", "no closing ']'"},
    {"redis://[::1]x", "unexpected text after the IPv6 host"},
    {"redis://[]:1", "names no host"},
    {"redis://my host", "host \"my host\" contains a character"},
    {"redis://h#top", "has a fragment"},
    {"redis://h?password=hunter2", "unknown query parameter \"password\""},
    {"redis://h/1?db=2", "sets db twice"},
    {"redis://h?db=x", "db \"x\" in the query is not a number >= 0"},
    {"unix://localhost/tmp/r.sock", "a unix:// URL names no host"},
    {"unix:tmp/r.sock", "the socket path must be absolute"},
    {"unix://", "names no socket path"},
    {"unix:", "names no socket path"},
    {"unix:///", "names no socket path"},
    {"unix:///tmp/a%zz", "bad percent-escape in the socket path"},
    {"unix:///tmp/r.sock?foo=1", "unknown query parameter \"foo\""},
    {"unix://:hunter2%@/tmp/r.sock", "bad percent-escape in the password"},
  };
  check_malformed(cases);
}

BOOST_AUTO_TEST_CASE(sentinel_urls_give_sentinels_master_name_and_db) {
  auto u = parsed("redis+sentinel://10.0.0.1:26380,s2,[::1]:26381/mymaster/2");
  BOOST_TEST((u.sentinels == std::vector<std::string>{
                "10.0.0.1:26380", "s2:26379", "[::1]:26381"}));
  BOOST_TEST(u.master_name == "mymaster");
  BOOST_TEST((u.db && *u.db == 2));
  BOOST_TEST(!u.username);
  BOOST_TEST(!u.password);
  BOOST_TEST(!u.tls);
  BOOST_TEST(u.unix_socket.empty());
  // One sentinel, no db (a trailing '/' names none), case-insensitive
  // scheme, db in the query instead.
  for (auto text : {"redis+sentinel://s:26379/m", "redis+sentinel://s/m/",
                    "REDIS+Sentinel://s/m"}) {
    auto d = parsed(text);
    BOOST_TEST((d.sentinels == std::vector<std::string>{"s:26379"}), text);
    BOOST_TEST(d.master_name == "m", text);
    BOOST_TEST(!d.db, text);
  }
  BOOST_TEST(*parsed("redis+sentinel://s/m?db=5").db == 5);
  // User info is the data node's, percent-decoded like the other forms;
  // so is the master name.
  auto c = parsed("redis+sentinel://app:p%40ss@s1:1,s2:2/cache%2Deu/0");
  BOOST_TEST(*c.username == "app");
  BOOST_TEST(*c.password == "p@ss");
  BOOST_TEST(c.master_name == "cache-eu");
  BOOST_TEST(*c.db == 0);
  BOOST_TEST(c.sentinels.size() == 2u);
  auto pw = parsed("redis+sentinel://:secret@s/m");
  BOOST_TEST(pw.username->empty());
  BOOST_TEST(*pw.password == "secret");
  // TLS form.
  BOOST_TEST(parsed("rediss+sentinel://s/m").tls);
  // Other forms leave both fields empty.
  auto plain = parsed("redis://h/1");
  BOOST_TEST(plain.sentinels.empty());
  BOOST_TEST(plain.master_name.empty());
}

BOOST_AUTO_TEST_CASE(malformed_sentinel_urls_name_the_bad_part) {
  std::vector<std::pair<std::string, std::string>> cases{
    {"redis+sentinel:s/m", "write redis+sentinel://host:port/master-name, "
                           "with two slashes"},
    {"redis+sentinel://", "names no sentinel"},
    {"redis+sentinel:///m", "names no sentinel"},
    {"redis+sentinel://:hunter2@/m", "names no sentinel"},
    {"redis+sentinel://s", "names no master name"},
    {"redis+sentinel://s/", "names no master name"},
    {"redis+sentinel://s//1", "names no master name"},
    {"redis+sentinel://s1,,s2/m", "empty sentinel address"},
    {"redis+sentinel://s1,/m", "empty sentinel address"},
    {"redis+sentinel://,s1/m", "empty sentinel address"},
    {"redis+sentinel://s1:0/m", "sentinel \"s1:0\": port \"0\" is not a "
                                "number in 1..65535"},
    {"redis+sentinel://s1:1,s2:x/m", "sentinel \"s2:x\": port \"x\""},
    {"redis+sentinel://s1:/m", "sentinel \"s1:\": the port after ':' is "
                               "empty"},
    {"redis+sentinel://[::1/m", "no closing ']'"},
    {"redis+sentinel://a b/m", "host \"a b\" contains a character"},
    {"redis+sentinel://s/m/x", "db \"x\" in the path is not a number >= 0"},
    {"redis+sentinel://s/m/1/2", "db \"1/2\" in the path"},
    {"redis+sentinel://s/m/1?db=2", "sets db twice"},
    {"redis+sentinel://s/m?master=x", "unknown query parameter \"master\""},
    {"redis+sentinel://s/m%zz", "bad percent-escape in the master name"},
    {"redis+sentinel://s/m#x", "has a fragment"},
    {"redis+sentinel://hunter2@s/m", "the part before '@' has no ':'"},
    {"redis+sentinel://u:@s/m", "the password after ':' is empty"},
    {"redis+sentinel://u:hunter2%z@s/m", "bad percent-escape in the password"},
    {"redis+sentinels://s/m", "unknown scheme \"redis+sentinels\" (use "
                              "redis://, rediss://, redis+sentinel://"},
  };
  check_malformed(cases);
}

BOOST_AUTO_TEST_CASE(applying_a_sentinel_url_sets_sentinels_and_master) {
  auto o = configured();
  o.sentinels = {"old-sentinel:26379"};
  o.master_name = "old-master";
  o.sentinel_password = "sentinel-pw";
  auto a = o;
  a.url = "redis+sentinel://s1:26380,s2/mymaster/3";
  BOOST_REQUIRE(!apply_redis_url(a));
  BOOST_TEST(a.url.empty());
  BOOST_TEST((a.sentinels
              == std::vector<std::string>{"s1:26380", "s2:26379"}));
  BOOST_TEST(a.master_name == "mymaster");
  BOOST_TEST(a.db == 3);
  BOOST_TEST(a.use_sentinel());
  BOOST_TEST(a.unix_socket.empty());
  BOOST_TEST(!a.tls);
  // Credentials and the sentinels' own password stay as configured.
  BOOST_TEST(a.username == "olduser");
  BOOST_TEST(a.password == "oldpw");
  BOOST_TEST(a.sentinel_password == "sentinel-pw");
  auto b = o;
  b.url = "rediss+sentinel://u:pw@s1/m";
  BOOST_REQUIRE(!apply_redis_url(b));
  BOOST_TEST(b.tls);
  BOOST_TEST(b.username == "u");
  BOOST_TEST(b.password == "pw");
  BOOST_TEST(b.db == 7);
  // Errors leave the options alone.
  auto c = o;
  c.url = "redis+sentinel://s1/";
  BOOST_TEST(code_of(apply_redis_url(c)) == errc::invalid_config);
  BOOST_TEST((c.sentinels == std::vector<std::string>{"old-sentinel:26379"}));
  BOOST_TEST(c.master_name == "old-master");
  // Through the configuration: the URL passes the Sentinel checks.
  config cfg;
  auto err = cfg.read({"--pulse.redis.url=redis+sentinel://10.0.0.5:26379,"
                       "10.0.0.6:26379/orders/1"});
  BOOST_REQUIRE_MESSAGE(!err, render(err));
  BOOST_TEST(cfg.opts().redis.sentinels.size() == 2u);
  BOOST_TEST(cfg.opts().redis.master_name == "orders");
  BOOST_TEST(cfg.opts().redis.db == 1);
  BOOST_TEST(!cfg.opts().redis.use_embedded());
}

BOOST_AUTO_TEST_CASE(applying_a_url_overrides_what_it_names) {
  auto o = configured();
  // Endpoint only: db and credentials stay.
  auto a = o;
  a.url = "redis://new:6390";
  BOOST_REQUIRE(!apply_redis_url(a));
  BOOST_TEST(a.url.empty());
  BOOST_TEST(a.host == "new");
  BOOST_TEST(a.port == 6390);
  BOOST_TEST(a.unix_socket.empty());
  BOOST_TEST(a.db == 7);
  BOOST_TEST(a.username == "olduser");
  BOOST_TEST(a.password == "oldpw");
  BOOST_TEST(!a.use_embedded());
  // Without a port, the URL's default (6379), not the option's.
  auto n = o;
  n.url = "redis://new";
  BOOST_REQUIRE(!apply_redis_url(n));
  BOOST_TEST(n.port == 6379);
  // A password alone clears the user; db from the path.
  auto b = o;
  b.url = "redis://:pw@new/3";
  BOOST_REQUIRE(!apply_redis_url(b));
  BOOST_TEST(b.username.empty());
  BOOST_TEST(b.password == "pw");
  BOOST_TEST(b.db == 3);
  // A socket URL clears the host.
  auto c = o;
  c.url = "unix:///run/r.sock?db=0";
  BOOST_REQUIRE(!apply_redis_url(c));
  BOOST_TEST(c.host.empty());
  BOOST_TEST(c.unix_socket == "/run/r.sock");
  BOOST_TEST(c.db == 0);
  BOOST_TEST(!c.use_embedded());
  BOOST_TEST(c.endpoint() == "unix:/run/r.sock");
  // Errors leave the options alone.
  auto d = o;
  d.url = "redis://h:0";
  BOOST_TEST(code_of(apply_redis_url(d)) == errc::invalid_config);
  BOOST_TEST(d.url == "redis://h:0");
  BOOST_TEST(d.host == "old");
  // Nothing to do without a URL.
  auto e = o;
  BOOST_REQUIRE(!apply_redis_url(e));
  BOOST_TEST(e.host == "old");
}

BOOST_AUTO_TEST_SUITE_END()
