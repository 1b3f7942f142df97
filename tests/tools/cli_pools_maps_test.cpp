// The `pulse` tool on replicated maps (the library's and Go Pulse's hash
// layout), worker pools (a node with a worker and jobs), totals, and the
// error cases: unknown names, Redis down, no Redis configured.

#include <boost/test/unit_test.hpp>

#include <map>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pulse/actors/rmap/rmap.hpp"
#include "tests/tools/cli_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(cli_maps_pools, cli_fixture)

BOOST_AUTO_TEST_CASE(maps_and_map_show_library_and_go_maps) {
  auto m = rmap::map::join(*rt, "flags");
  BOOST_REQUIRE_MESSAGE(m, describe(m));
  BOOST_REQUIRE((*m)->set("dark-mode", "on"));
  BOOST_REQUIRE((*m)->set("beta", "off"));
  // Go Pulse's hash, written raw: two keys at revision 7.
  BOOST_REQUIRE(redis()("HSET", "map:go-map:content", "a", "1", "b", "2",
                        "=rev", "7", "=kind", "set"));
  auto out = cli_ok({"maps"});
  BOOST_TEST(has(out, "REVISION"), out);
  BOOST_TEST(has(out, "flags"), out);
  BOOST_TEST(has(out, "go-map"), out);
  auto j = cli_json({"maps"});
  BOOST_REQUIRE_EQUAL(j.size(), 2u);
  BOOST_TEST(j[0]["name"] == "flags");
  BOOST_TEST(j[0]["keys"] == 2);
  BOOST_TEST(j[0]["rev"] == 2);
  BOOST_TEST(j[1]["name"] == "go-map");
  BOOST_TEST(j[1]["keys"] == 2);
  BOOST_TEST(j[1]["rev"] == 7);
  j = cli_json({"map", "go-map"});
  BOOST_TEST(j["rev"] == 7);
  BOOST_TEST(j["values"]["a"] == "1");
  BOOST_TEST(j["values"]["b"] == "2");
  BOOST_TEST(j["values"].size() == 2u); // reserved fields stripped
  out = cli_ok({"map", "flags"});
  BOOST_TEST(has(out, "revision 2"), out);
  BOOST_TEST(has(out, "dark-mode"), out);
  BOOST_TEST(!has(out, "=rev"), out);
}

BOOST_AUTO_TEST_CASE(map_set_notifies_replicas_and_get_reads_it) {
  auto m = rmap::map::join(*rt, "flags");
  BOOST_REQUIRE_MESSAGE(m, describe(m));
  BOOST_REQUIRE((*m)->set("beta", "off"));
  auto j = cli_json({"map", "set", "flags", "beta", "on"});
  BOOST_TEST(j["previous"] == "off");
  BOOST_TEST(j["rev"] == 2);
  // The library's replica applies the notification the script published.
  BOOST_TEST(wait_until([&] {
    auto v = (*m)->get("beta");
    return v && *v == "on";
  }));
  BOOST_TEST((*m)->rev() == 2u);
  BOOST_TEST(cli_ok({"map", "get", "flags", "beta"}) == "on\n");
  BOOST_TEST(cli_json({"map", "get", "flags", "beta"})["value"] == "on");
  // A Go map: the revision continues from the hash's.
  BOOST_REQUIRE(redis()("HSET", "map:go-map:content", "a", "1", "=rev", "7",
                        "=kind", "set"));
  j = cli_json({"map", "set", "go-map", "a", "2"});
  BOOST_TEST(j["rev"] == 8);
  BOOST_TEST(redis()("HGET", "map:go-map:content", "a")->str == "2");
  // Unknown key and unknown map: rc 1; --create makes a new map.
  auto r = cli({"map", "get", "flags", "nope"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "has no key \"nope\""), r.err);
  r = cli({"map", "set", "new-map", "k", "v"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "unknown map \"new-map\""), r.err);
  BOOST_TEST(cli_json({"map", "set", "new-map", "k", "v", "--create"})["rev"]
             == 1);
}

BOOST_AUTO_TEST_CASE(map_watch_prints_changes) {
  auto m = rmap::map::join(*rt, "flags");
  BOOST_REQUIRE_MESSAGE(m, describe(m));
  BOOST_REQUIRE((*m)->set("k", "0"));
  auto args = endpoint();
  for (auto a : {"--json", "map", "watch", "flags", "--max-events", "2"})
    args.emplace_back(a);
  cli_process p{args};
  // Writes until the watcher saw two changes and exited.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (int i = 1; !p.done() && std::chrono::steady_clock::now() < deadline;
       ++i) {
    BOOST_REQUIRE((*m)->set("k", std::to_string(i)));
    std::this_thread::sleep_for(20ms);
  }
  auto r = p.wait(5s);
  BOOST_REQUIRE_MESSAGE(r.rc == 0, "rc " << r.rc << ": " << r.err);
  std::istringstream lines{r.out};
  std::string line;
  std::vector<nlohmann::json> xs;
  while (std::getline(lines, line))
    xs.push_back(nlohmann::json::parse(line));
  BOOST_REQUIRE_EQUAL(xs.size(), 2u);
  BOOST_TEST(xs[0]["op"] == "set");
  BOOST_TEST(xs[0]["key"] == "k");
  BOOST_TEST(xs[1]["rev"].get<int64_t>() == xs[0]["rev"].get<int64_t>() + 1);
  BOOST_TEST(std::to_string(xs[1]["rev"].get<int64_t>() - 1)
             == xs[1]["value"].get<std::string>());
}

namespace {

// Fast pool options, with a lease long enough that a loaded machine never
// lets it expire mid-test (a reaped worker rejoins, briefly without name).
pulse::pool_options steady_options() {
  auto o = fast_options();
  o.worker_ttl = 10s;
  return o;
}

} // namespace

BOOST_AUTO_TEST_CASE(pools_pool_jobs_job_and_stop) {
  auto n = node(steady_options(), "mail");
  auto w = worker(*n);
  BOOST_REQUIRE(!n->dispatch("job-1", "payload-1"));
  BOOST_REQUIRE(!n->dispatch("job-2", "payload-2"));
  auto out = cli_ok({"pools"});
  BOOST_TEST(has(out, "WORKERS"), out);
  BOOST_TEST(has(out, "mail"), out);
  auto j = cli_json({"pools"});
  BOOST_REQUIRE_EQUAL(j.size(), 1u);
  BOOST_TEST(j[0]["name"] == "mail");
  BOOST_TEST(j[0]["nodes"] == 1);
  BOOST_TEST(j[0]["workers"] == 1);
  BOOST_TEST(j[0]["jobs"] == 2);
  j = cli_json({"pool", "mail"});
  BOOST_REQUIRE_EQUAL(j["nodes"].size(), 1u);
  BOOST_TEST(j["nodes"][0]["alive"] == true);
  BOOST_REQUIRE_EQUAL(j["workers"].size(), 1u);
  BOOST_TEST(j["workers"][0]["id"] == w);
  BOOST_TEST(j["workers"][0]["node"] == j["nodes"][0]["id"]);
  BOOST_TEST(j["workers"][0]["jobs"] == 2);
  BOOST_TEST(j["workers"][0]["queue"] == 0);
  BOOST_TEST(j["totals"]["jobs"] == 2);
  BOOST_TEST(j["totals"]["running"] == 2);
  // Names: the node's default <host>:<pid>:<k>, its worker's <name>:1.
  auto node_name = j["nodes"][0]["name"].get<std::string>();
  BOOST_TEST(node_name.find(":" + std::to_string(getpid()) + ":")
               != std::string::npos,
             node_name);
  BOOST_TEST(j["nodes"][0]["pid"] == getpid());
  BOOST_TEST(j["nodes"][0]["version"] == PULSE_TEST_VERSION);
  BOOST_TEST(j["workers"][0]["name"] == node_name + ":1");
  BOOST_TEST(j["workers"][0]["node_name"] == node_name);
  out = cli_ok({"pool", "mail"});
  BOOST_TEST(has(out, w), out);
  BOOST_TEST(has(out, node_name + ":1"), out);
  BOOST_TEST(has(out, "QUEUE"), out);
  j = cli_json({"jobs", "mail", "--worker", w});
  BOOST_REQUIRE_EQUAL(j.size(), 2u);
  BOOST_TEST(j[0]["key"] == "job-1");
  BOOST_TEST(j[0]["state"] == "running");
  BOOST_TEST(j[0]["worker"] == w);
  BOOST_TEST(j[0]["worker_name"] == node_name + ":1");
  out = cli_ok({"jobs", "mail"});
  BOOST_TEST(has(out, "job-2"), out);
  j = cli_json({"job", "mail", "job-2"});
  BOOST_TEST(j["payload"] == "payload-2");
  BOOST_TEST(j["worker"] == w);
  BOOST_TEST(has(cli_ok({"job", "mail", "job-1"}), "payload-1"));
  // Stop: the worker's handler stops it, and it is gone.
  BOOST_TEST(has(cli_ok({"job", "stop", "mail", "job-1"}), "stopped job-1"));
  BOOST_TEST(wait_until([&] { return log->count('x', "job-1") == 1u; }));
  BOOST_TEST(cli_json({"jobs", "mail"}).size() == 1u);
  auto r = cli({"job", "stop", "mail", "job-1"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "has no job \"job-1\""), r.err);
  r = cli({"jobs", "mail", "--worker", "nobody"});
  BOOST_TEST(r.rc == 1);
}

BOOST_AUTO_TEST_CASE(pool_shows_configured_names_until_they_leave) {
  auto o = steady_options();
  o.name = "mailer-a";
  auto n = node(o, "mail");
  auto w1 = worker(*n);
  auto w2 = worker(*n);
  auto j = cli_json({"pool", "mail"});
  BOOST_TEST(j["nodes"][0]["name"] == "mailer-a");
  std::map<std::string, std::string> names;
  for (auto& w : j["workers"])
    names[w["id"]] = w["name"];
  BOOST_TEST(names[w1] == "mailer-a:1");
  BOOST_TEST(names[w2] == "mailer-a:2");
  // A worker that leaves takes its name along; a closed node too.
  BOOST_REQUIRE(!n->remove_worker(w1));
  BOOST_TEST(wait_until([&] {
    return redis()("HEXISTS", "pulse:pool:{mail}:info", "w:" + w1)->integer
           == 0;
  }));
  BOOST_TEST(redis()("HEXISTS", "pulse:pool:{mail}:info", "w:" + w2)->integer
             == 1);
  BOOST_REQUIRE(!n->close());
  BOOST_TEST(wait_until([&] {
    return redis()("HEXISTS", "pulse:pool:{mail}:info", "n:" + n->id())
             ->integer
           == 0;
  }));
  // '|' separates the fields of a node's entry: refused in a name.
  o.name = "a|b";
  BOOST_TEST(!pool_node::add_node(*rt, "mail", o));
}

BOOST_AUTO_TEST_CASE(stats_shows_totals) {
  add("orders", "created", "1");
  add("orders", "created", "2");
  BOOST_REQUIRE(redis()("HSET", "map:go-map:content", "a", "1", "=rev", "1"));
  auto n = node(fast_options(), "mail");
  worker(*n);
  BOOST_REQUIRE(!n->dispatch("job-1", "x"));
  auto j = cli_json({"stats"});
  BOOST_TEST(j["streams"]["streams"] == 1);
  BOOST_TEST(j["streams"]["entries"] == 2);
  BOOST_TEST(j["maps"]["maps"] == 1);
  BOOST_TEST(j["pools"]["pools"] == 1);
  BOOST_TEST(j["pools"]["workers"] == 1);
  BOOST_TEST(j["pools"]["jobs"] == 1);
  BOOST_TEST(!j["redis"]["version"].get<std::string>().empty());
  auto out = cli_ok({"stats", "--watch", "--interval", "100ms",
                     "--iterations", "2"});
  BOOST_TEST(has(out, "entries"), out);
  auto first = out.find("pulse stats");
  BOOST_TEST((first != std::string::npos
              && out.find("pulse stats", first + 1) != std::string::npos),
             out);
}

BOOST_AUTO_TEST_CASE(unknown_names_exit_with_1_and_a_message) {
  auto check = [&](std::vector<std::string> args, const std::string& msg) {
    auto r = cli(args);
    BOOST_TEST(r.rc == 1, "rc " << r.rc << " for " << args.front());
    BOOST_TEST(has(r.err, msg), r.err);
    BOOST_TEST(r.out.empty(), r.out);
  };
  check({"stream", "nope"}, "unknown stream \"nope\"");
  check({"tail", "nope"}, "unknown stream \"nope\"");
  check({"dead-letters", "nope"}, "unknown stream \"nope\"");
  check({"map", "nope"}, "unknown map \"nope\"");
  check({"map", "watch", "nope"}, "unknown map \"nope\"");
  check({"pool", "nope"}, "unknown pool \"nope\"");
  check({"jobs", "nope"}, "unknown pool \"nope\"");
  check({"job", "nope", "k"}, "unknown pool \"nope\"");
  check({"stream", "bad name"}, "not a valid stream name");
  // Empty lists are not errors.
  BOOST_TEST(cli_json({"streams"}).empty());
  BOOST_TEST(cli_json({"pools"}).empty());
}

BOOST_AUTO_TEST_CASE(redis_down_is_a_clear_error_within_the_connect_timeout) {
  auto port = this->port();
  server().stop();
  auto r = run_cli({"--pulse.redis.host=127.0.0.1",
                    "--pulse.redis.port=" + std::to_string(port),
                    "--pulse.redis.connect-timeout=500ms", "streams"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "cannot reach Redis at 127.0.0.1:"
                          + std::to_string(port)),
             r.err);
  BOOST_TEST(r.out.empty());
  // A server that accepts connections but never answers (a hung Redis):
  // the connect timeout bounds the wait.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  BOOST_REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                == 0);
  BOOST_REQUIRE(listen(fd, 16) == 0); // never accepted, never answered
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto silent = std::to_string(ntohs(addr.sin_port));
  r = run_cli({"--pulse.redis.host=127.0.0.1", "--pulse.redis.port=" + silent,
               "--pulse.redis.connect-timeout=500ms", "pools"});
  close(fd);
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "cannot reach Redis at 127.0.0.1:" + silent), r.err);
  BOOST_TEST((r.elapsed >= 500ms), r.elapsed.count() << " ms");
  BOOST_TEST((r.elapsed < 3s), r.elapsed.count() << " ms");
}

BOOST_AUTO_TEST_CASE(no_configured_redis_is_an_error_not_a_server) {
  auto r = run_cli({"streams"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "no Redis configured"), r.err);
  r = run_cli({"--pulse.redis.host=127.0.0.1", "--pulse.redis.embedded",
               "streams"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "never starts an embedded server"), r.err);
  // Bad usage: CLI11's message, rc 1; --help: rc 0.
  r = run_cli({"no-such-command"});
  BOOST_TEST(r.rc == 1);
  r = run_cli({"--help"});
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(has(r.out, "dead-letters"), r.out);
}

BOOST_AUTO_TEST_SUITE_END()
