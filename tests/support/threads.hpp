#pragma once

/// Thread counts of this process, for tests and benchmarks that check what
/// actors cost in OS threads.

#include <chrono>
#include <cstddef>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <dirent.h>

namespace pulse::test {

/// Calls `fn(id)` with the ID (a string) of every thread of this process
/// (the entries of `/proc/self/task`).
template <class F>
void each_thread(F fn) {
  if (auto* d = opendir("/proc/self/task")) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.')
        fn(static_cast<const char*>(e->d_name));
    closedir(d);
  }
}

/// Threads of this process right now.
inline size_t thread_count() {
  size_t n = 0;
  each_thread([&n](const char*) { ++n; });
  return n;
}

/// How many threads of this process carry each name (`/proc/self/task/*/comm`).
inline std::map<std::string, size_t> thread_names() {
  std::map<std::string, size_t> out;
  each_thread([&out](const char* id) {
    std::ifstream in{std::string{"/proc/self/task/"} + id + "/comm"};
    std::string name;
    if (std::getline(in, name))
      ++out[name];
  });
  return out;
}

/// Threads of this process once the count held still for 150 ms (threads
/// of earlier work, e.g. one-shot helpers, end asynchronously); waits at
/// most `limit`.
inline size_t settled_thread_count(
  std::chrono::milliseconds limit = std::chrono::seconds{3}) {
  using namespace std::chrono_literals;
  auto until = std::chrono::steady_clock::now() + limit;
  auto last = thread_count();
  for (int same = 0; same < 3 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(50ms);
    auto now = thread_count();
    same = now == last ? same + 1 : 0;
    last = now;
  }
  return last;
}

} // namespace pulse::test
