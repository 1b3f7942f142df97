#pragma once

/// Bench helper: the pool's `dispatch_async` throughput shape, shared by the
/// pool benches.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "bench/common.hpp"
#include "pulse/actors/pool/pool.hpp"

namespace pulse::bench {

/// Jobs/s of `n` `dispatch_async` calls with distinct keys (`tag` and the
/// index) from one thread, at most 2,000 in flight (it waits for 1,500
/// before sending more); failed dispatches are reported on stderr.
inline double dispatch_rate(pool_node& node, size_t n, const std::string& tag) {
  std::mutex mtx;
  std::condition_variable cv;
  size_t in_flight = 0, done = 0, errors = 0;
  auto t0 = clock_type::now();
  for (size_t i = 0; i < n; ++i) {
    {
      std::unique_lock<std::mutex> guard{mtx};
      if (in_flight >= 2000)
        cv.wait(guard, [&] { return in_flight <= 1500; });
      ++in_flight;
    }
    node.dispatch_async(tag + std::to_string(i), "payload",
                        [&](caf::error err) {
                          std::lock_guard<std::mutex> guard{mtx};
                          --in_flight;
                          ++done;
                          errors += err ? 1 : 0;
                          if (in_flight == 1500 || done == n)
                            cv.notify_all();
                        });
  }
  std::unique_lock<std::mutex> guard{mtx};
  cv.wait(guard, [&] { return done == n; });
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (errors > 0)
    std::fprintf(stderr, "%zu dispatches failed\n", errors);
  return static_cast<double>(n) / secs;
}

} // namespace pulse::bench
