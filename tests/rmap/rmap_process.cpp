// Helper process for the multi-process rmap test: joins map <name> at
// 127.0.0.1:<port>, performs <n> random mutations (seeded), marks itself
// done (INCR <name>:done), waits until <procs> processes are done and its
// replica caught up with the hash's revision, then prints "digest <hex>"
// of its local copy and exits.
//
//   rmap_process <port> <name> <seed> <n> <procs>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/runtime/runtime.hpp"
#include "pulse/actors/redis/sha1.hpp"
#include "tests/support/process_main.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: rmap_process port name seed n procs\n");
    return 2;
  }
  std::string name = argv[2];
  auto seed = std::strtoull(argv[3], nullptr, 10);
  auto n = std::atoi(argv[4]);
  auto procs = std::atoi(argv[5]);
  pulse::test::helper_process proc{argv[1]};
  auto& sys = *proc.sys;
  auto m = pulse::rmap::map::join(*proc.rt, name);
  if (!m) {
    std::fprintf(stderr, "%s\n", pulse::render(m.error()).c_str());
    return 1;
  }
  std::mt19937_64 rng{seed};
  auto key = [&] { return "k" + std::to_string(rng() % 20); };
  for (int i = 0; i < n; ++i) {
    switch (rng() % 10) {
      case 0: case 1: case 2:
        (*m)->set(key(), std::to_string(rng() % 1000));
        break;
      case 3:
        (*m)->del(key());
        break;
      case 4:
        (*m)->inc("counter", 1);
        break;
      case 5:
        (*m)->append_unique_values("list", {std::to_string(rng() % 10)});
        break;
      case 6:
        (*m)->remove_values("list", {std::to_string(rng() % 10)});
        break;
      case 7:
        (*m)->test_and_set(key(), std::to_string(rng() % 1000), "t");
        break;
      case 8:
        (*m)->set_if_not_exists(key(), "fresh");
        break;
      default:
        if (rng() % 20 == 0)
          (*m)->reset();
        else
          (*m)->append_values("log", {std::to_string(i)});
    }
  }
  pulse::client c{sys, proc.rt->gateway()};
  c("INCR", name + ":done");
  auto content = "map:" + name + ":content";
  for (int tries = 0; tries < 2000; ++tries) {
    auto done = c("GET", name + ":done");
    auto rev = c("HGET", content, "=rev");
    if (done && done->as_integer().value_or(0) == procs && rev
        && static_cast<uint64_t>(rev->as_integer().value_or(0))
             == (*m)->rev())
      break;
    std::this_thread::sleep_for(5ms);
  }
  auto snap = (*m)->snapshot();
  std::map<std::string, std::string> sorted{snap.begin(), snap.end()};
  std::string text;
  for (auto& [k, v] : sorted)
    text += k + "=" + v + "\n";
  std::printf("digest %s rev %llu\n", pulse::sha1_hex(text).c_str(),
              static_cast<unsigned long long>((*m)->rev()));
  std::fflush(stdout);
  return 0;
}
