// Worker pools with real processes: workers SIGKILLed mid-job, 1,000 jobs
// dispatched while worker processes are killed and restarted (no job lost,
// no key ever on two workers at once), Redis restarted with AOF mid-run.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/jump_hash.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

constexpr int ttl_ms = 600;
constexpr int grace_ms = 500;

int64_t mono_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

struct child {
  pid_t pid = -1;
  int out = -1;
  std::string journal;
  /// When it was SIGKILLed (monotonic ns), or -1.
  int64_t killed_at = -1;
  bool alive = true;
};

struct process_fixture : actor_fixture {
  explicit process_fixture(server_options so = {}) : actor_fixture(so) {
    char tmpl[] = "/tmp/pulse-pool-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }

  ~process_fixture() {
    for (auto& c : children)
      if (c.alive) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, nullptr, 0);
        ::close(c.out);
      }
    for (auto& c : children)
      ::unlink(c.journal.c_str());
    ::rmdir(dir.c_str());
  }

  std::string dir;
  std::vector<child> children;

  /// Starts a worker process with `workers` workers and waits until ready;
  /// returns its index in `children`.
  size_t spawn(int workers, const std::string& pool = "pp") {
    int out[2];
    BOOST_REQUIRE(::pipe(out) == 0);
    child c;
    c.journal = dir + "/journal-" + std::to_string(children.size());
    auto port = std::to_string(this->port());
    auto nw = std::to_string(workers);
    auto ttl = std::to_string(ttl_ms);
    c.pid = ::fork();
    if (c.pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::execl(PULSE_POOL_PROCESS, PULSE_POOL_PROCESS, port.c_str(),
              pool.c_str(), c.journal.c_str(), nw.c_str(), ttl.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    c.out = out[0];
    BOOST_REQUIRE_MESSAGE(read_until(c.out, "ready"), "worker process start");
    children.push_back(c);
    return children.size() - 1;
  }

  static bool read_until(int fd, const std::string& what) {
    std::string output;
    char buf[256];
    while (output.find(what) == std::string::npos) {
      auto n = ::read(fd, buf, sizeof(buf));
      if (n <= 0)
        return false;
      output.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  void sigkill(child& c) {
    c.killed_at = mono_ns();
    ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, nullptr, 0);
    ::close(c.out);
    c.alive = false;
  }

  /// SIGTERM: the process closes its node (jobs handed over) and exits.
  void terminate(child& c) {
    ::kill(c.pid, SIGTERM);
    BOOST_TEST(read_until(c.out, "closed"));
    ::waitpid(c.pid, nullptr, 0);
    ::close(c.out);
    c.alive = false;
  }

  struct interval {
    int64_t start;
    int64_t end; // INT64_MAX while running
    std::string worker;
    size_t proc;
  };

  /// Reads every journal: per key, the intervals during which it ran.
  std::map<std::string, std::vector<interval>> intervals() {
    struct rec {
      char kind;
      int64_t t;
      std::string worker, key;
      size_t proc;
    };
    std::vector<rec> recs;
    for (size_t i = 0; i < children.size(); ++i) {
      std::ifstream in{children[i].journal};
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream ls{line};
        rec r;
        r.proc = i;
        ls >> r.kind >> r.t >> r.worker >> r.key;
        if (ls)
          recs.push_back(r);
      }
    }
    std::sort(recs.begin(), recs.end(),
              [](auto& x, auto& y) { return x.t < y.t; });
    std::map<std::string, std::vector<interval>> out;
    for (auto& r : recs) {
      auto& xs = out[r.key];
      if (r.kind == 's') {
        auto end = children[r.proc].alive ? INT64_MAX
                                          : children[r.proc].killed_at;
        if (end < 0)
          end = INT64_MAX; // closed gracefully: its stop record ends it
        xs.push_back(interval{r.t, end, r.worker, r.proc});
      } else {
        for (auto i = xs.rbegin(); i != xs.rend(); ++i)
          if (i->worker == r.worker && i->end > r.t) {
            i->end = r.t;
            break;
          }
      }
    }
    return out;
  }

  /// Keys running on two workers at the same time.
  std::vector<std::string> overlaps() {
    std::vector<std::string> out;
    for (auto& [key, xs] : intervals()) {
      auto ys = xs;
      std::sort(ys.begin(), ys.end(),
                [](auto& x, auto& y) { return x.start < y.start; });
      for (size_t i = 1; i < ys.size(); ++i)
        if (ys[i].start < ys[i - 1].end)
          out.push_back(key + " (" + ys[i - 1].worker + ", " + ys[i].worker
                        + ")");
    }
    return out;
  }

  /// Keys running right now on a live process.
  std::set<std::string> running() {
    std::set<std::string> out;
    for (auto& [key, xs] : intervals())
      for (auto& x : xs)
        if (x.end == INT64_MAX && children[x.proc].alive)
          out.insert(key);
    return out;
  }

  /// Which worker process runs `key` now (-1: none).
  int runner(const std::string& key) {
    auto all = intervals();
    auto i = all.find(key);
    if (i == all.end())
      return -1;
    for (auto& x : i->second)
      if (x.end == INT64_MAX && children[x.proc].alive)
        return static_cast<int>(x.proc);
    return -1;
  }

  std::unique_ptr<pool_node> dispatcher(const std::string& pool = "pp") {
    pool_options o;
    o.client_only = true;
    o.worker_ttl = std::chrono::milliseconds{ttl_ms};
    o.ack_grace_period = std::chrono::milliseconds{grace_ms};
    auto n = pool_node::add_node(*rt, pool, o);
    BOOST_REQUIRE_MESSAGE(n, describe(n));
    return std::move(*n);
  }
};

struct aof_process_fixture : process_fixture {
  static server_options aof() {
    server_options so;
    so.aof = true;
    return so;
  }
  aof_process_fixture() : process_fixture(aof()) {}
};

std::string keys_of(const std::set<std::string>& xs, size_t max = 10) {
  std::string out;
  for (auto& x : xs) {
    if (max-- == 0)
      break;
    out += x + " ";
  }
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_processes, process_fixture)

BOOST_AUTO_TEST_CASE(sigkilled_worker_process_jobs_restart_elsewhere) {
  auto a = spawn(1);
  auto b = spawn(1);
  auto d = dispatcher();
  std::set<std::string> all;
  for (int i = 0; i < 30; ++i) {
    all.insert("job-" + std::to_string(i));
    BOOST_REQUIRE(!d->dispatch("job-" + std::to_string(i), "x"));
  }
  BOOST_REQUIRE(running() == all);
  std::set<std::string> on_a;
  for (auto& k : all)
    if (runner(k) == static_cast<int>(a))
      on_a.insert(k);
  BOOST_REQUIRE(!on_a.empty());
  BOOST_REQUIRE(on_a.size() < all.size());
  sigkill(children[a]);
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(wait_until([&] { return running() == all; }, 10s),
             keys_of(all) << " vs " << keys_of(running()));
  auto took = std::chrono::steady_clock::now() - t0;
  auto bound = std::chrono::milliseconds{ttl_ms + grace_ms};
  BOOST_TEST((took <= bound),
             "restart took "
               << std::chrono::duration_cast<std::chrono::milliseconds>(took)
                    .count()
               << " ms");
  for (auto& k : on_a)
    BOOST_TEST(runner(k) == static_cast<int>(b), k);
  auto ov = overlaps();
  BOOST_TEST(ov.empty(), ov.size() << " overlaps, first: "
                                   << (ov.empty() ? "" : ov[0]));
}

BOOST_AUTO_TEST_CASE(thousand_jobs_while_workers_are_killed_and_restarted) {
  for (int i = 0; i < 3; ++i)
    spawn(2);
  auto d = dispatcher();
  constexpr int total = 1000;
  std::atomic<int> next{0}, ok{0}, timeouts{0}, other{0};
  std::mutex err_mtx;
  std::string first_error;
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      for (int i = next++; i < total; i = next++) {
        std::this_thread::sleep_for(20ms); // spread over the chaos
        auto err = d->dispatch("k" + std::to_string(i), "x");
        if (!err)
          ++ok;
        else if (code_of(err) == errc::timeout)
          ++timeouts;
        else {
          ++other;
          std::lock_guard<std::mutex> guard{err_mtx};
          if (first_error.empty())
            first_error = render(err);
        }
      }
    });
  // Chaos: alternately SIGKILL and gracefully restart a worker process,
  // always starting the replacement first.
  std::mt19937 rng{42};
  int round = 0;
  while (next < total || round < 6) {
    std::this_thread::sleep_for(250ms);
    std::vector<size_t> live;
    for (size_t i = 0; i < children.size(); ++i)
      if (children[i].alive)
        live.push_back(i);
    spawn(2);
    auto victim = live[rng() % live.size()];
    if (round++ % 2 == 0)
      sigkill(children[victim]);
    else
      terminate(children[victim]);
  }
  for (auto& t : ts)
    t.join();
  BOOST_TEST(other == 0, first_error);
  BOOST_TEST(ok + timeouts == total);
  std::set<std::string> all;
  for (int i = 0; i < total; ++i)
    all.insert("k" + std::to_string(i));
  BOOST_TEST(wait_until([&] { return running() == all; }, 20s),
             running().size() << " of " << total << " running");
  auto ov = overlaps();
  BOOST_TEST(ov.empty(), ov.size() << " overlaps, first: "
                                   << (ov.empty() ? "" : ov[0]));
  BOOST_TEST_MESSAGE("dispatch ok=" << ok << " timeouts=" << timeouts
                                    << " rounds=" << round);
}

BOOST_AUTO_TEST_CASE(adding_a_worker_process_moves_exactly_the_hash_keys) {
  spawn(1);
  auto d = dispatcher();
  std::set<std::string> all;
  for (int i = 0; i < 50; ++i) {
    all.insert("h" + std::to_string(i));
    BOOST_REQUIRE(!d->dispatch("h" + std::to_string(i), "x"));
  }
  spawn(1);
  auto ws = d->pool_workers();
  BOOST_REQUIRE(ws);
  BOOST_REQUIRE(ws->size() == 2u);
  BOOST_TEST(wait_until([&] {
    if (running() != all)
      return false;
    for (auto& k : all)
      if (runner(k) != (jump_hash(k, 2) == 0 ? 0 : 1))
        return false;
    return true;
  }));
  // Only the moved keys ran twice.
  auto iv = intervals();
  for (auto& k : all)
    BOOST_TEST(iv[k].size() == (jump_hash(k, 2) == 0 ? 1u : 2u), k);
  BOOST_TEST(overlaps().empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(pool_redis_restart, aof_process_fixture)

BOOST_AUTO_TEST_CASE(redis_restarted_with_aof_loses_no_job) {
  spawn(2);
  spawn(2);
  auto d = dispatcher();
  std::set<std::string> all;
  auto dispatch = [&](const std::string& key) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      auto err = d->dispatch(key, "x");
      if (!err || code_of(err) == errc::job_exists
          || code_of(err) == errc::timeout)
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  for (int i = 0; i < 100; ++i) {
    all.insert("a" + std::to_string(i));
    BOOST_REQUIRE(dispatch("a" + std::to_string(i)));
  }
  BOOST_REQUIRE(running() == all);
  BOOST_REQUIRE(!server().restart());
  for (int i = 0; i < 100; ++i) {
    all.insert("b" + std::to_string(i));
    BOOST_REQUIRE(dispatch("b" + std::to_string(i)));
  }
  BOOST_TEST(wait_until([&] { return running() == all; }, 20s),
             running().size() << " of " << all.size() << " running");
  BOOST_TEST(overlaps().empty());
}

BOOST_AUTO_TEST_SUITE_END()
