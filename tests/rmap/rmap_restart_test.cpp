// Replicated maps against a real Redis: replicas converge after a Redis
// restart and across processes mutating one map concurrently.

#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>

#include "pulse/actors/redis/sha1.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "tests/rmap/rmap_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(rmap_restart, aof_rmap_fixture)

BOOST_AUTO_TEST_CASE(replicas_converge_after_redis_restart) {
  auto m = join("survive");
  for (int i = 0; i < 10; ++i)
    m->set("k" + std::to_string(i), "v");
  BOOST_REQUIRE(wait_until([&] { return converged(m); }));
  server().kill();
  std::this_thread::sleep_for(100ms);
  BOOST_REQUIRE(!server().restart());
  BOOST_REQUIRE(wait_until([&] { return redis()("PING").engaged(); }, 5s));
  BOOST_TEST(wait_until(
    [&] {
      auto r = m->set("after", "restart");
      return r.engaged();
    },
    5s));
  BOOST_TEST(wait_until([&] { return converged(m); }, 5s));
  BOOST_TEST(opt(m->get("after")) == "\"restart\"");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(rmap_processes, rmap_fixture)

BOOST_AUTO_TEST_CASE(three_processes_mutating_concurrently_converge) {
  constexpr int procs = 3;
  std::vector<std::pair<pid_t, int>> children;
  auto port = std::to_string(this->port());
  for (int i = 0; i < procs; ++i) {
    int out[2];
    BOOST_REQUIRE(::pipe(out) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      auto seed = std::to_string(1000 + i);
      ::execl(PULSE_RMAP_PROCESS, PULSE_RMAP_PROCESS, port.c_str(), "shared",
              seed.c_str(), "300", std::to_string(procs).c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    children.emplace_back(pid, out[0]);
  }
  std::vector<std::string> outputs;
  for (auto [pid, fd] : children) {
    std::string output;
    char buf[256];
    ssize_t got;
    while ((got = ::read(fd, buf, sizeof(buf))) > 0)
      output.append(buf, static_cast<size_t>(got));
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0);
    outputs.push_back(output);
  }
  // The Redis hash, digested the same way.
  auto h = redis()("HGETALL", "map:shared:content");
  std::map<std::string, std::string> sorted;
  std::string rev;
  for (size_t i = 0; i + 1 < h->elements.size(); i += 2) {
    if (h->elements[i].str == "=rev")
      rev = h->elements[i + 1].str;
    else if (h->elements[i].str != "=kind")
      sorted[h->elements[i].str] = h->elements[i + 1].str;
  }
  std::string text;
  for (auto& [k, v] : sorted)
    text += k + "=" + v + "\n";
  auto expected = "digest " + sha1_hex(text) + " rev " + rev + "\n";
  BOOST_TEST(std::stoi(rev) >= 300); // most mutations changed something
  for (auto& out : outputs)
    BOOST_TEST(out == expected);
}

BOOST_AUTO_TEST_SUITE_END()
