#pragma once

/// The fixture of the multi-process pool suites (process_test.cpp,
/// delayed_process_test.cpp): worker processes (pool_process) started,
/// SIGKILLed and SIGTERMed by the test, their start/stop journals read back
/// as per-key run intervals, and a client-only dispatching node in the test
/// process; `aof_process_fixture` runs Redis with AOF for restarts.

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

namespace pulse::test {

using namespace std::chrono_literals;


inline constexpr int ttl_ms = 600;
inline constexpr int grace_ms = 500;

inline int64_t mono_ns() {
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
  /// Worker lease of the processes spawned and of the dispatcher.
  int ttl = ttl_ms;

  /// Starts a worker process with `workers` workers and waits until ready;
  /// returns its index in `children`.
  size_t spawn(int workers, const std::string& pool = "pp") {
    int out[2];
    BOOST_REQUIRE(::pipe(out) == 0);
    child c;
    c.journal = dir + "/journal-" + std::to_string(children.size());
    auto port = std::to_string(this->port());
    auto nw = std::to_string(workers);
    auto ttl_arg = std::to_string(ttl);
    c.pid = ::fork();
    if (c.pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::execl(PULSE_POOL_PROCESS, PULSE_POOL_PROCESS, port.c_str(),
              pool.c_str(), c.journal.c_str(), nw.c_str(), ttl_arg.c_str(),
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
    o.worker_ttl = std::chrono::milliseconds{ttl};
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
  // A lease longer than a Redis restart under load (AOF reload, reconnects
  // with backoff): otherwise workers whose keep-alives went stale while
  // Redis was down are rightly declared lost and their jobs move, which
  // the restart tests would count as second runs.
  aof_process_fixture() : process_fixture(aof()) {
    ttl = 3000;
  }
};

/// Returns `xs` separated by spaces (for messages).
inline std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += x + " ";
  return out;
}

inline std::string keys_of(const std::set<std::string>& xs,
                           size_t max = 10) {
  std::string out;
  for (auto& x : xs) {
    if (max-- == 0)
      break;
    out += x + " ";
  }
  return out;
}


} // namespace pulse::test
