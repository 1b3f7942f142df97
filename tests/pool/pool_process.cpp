// Helper process for multi-process pool tests: joins pool <pool> at
// 127.0.0.1:<port> with <workers> workers whose handler appends
// "s|x <monotonic ns> <worker> <key> [<attempt>]" lines to <journal> (one
// write(2) per line, so a SIGKILL loses nothing written; starts carry the
// attempt), prints "ready" once the workers joined, and on SIGTERM closes the node gracefully (jobs handed
// over), prints "closed" and exits.
//
//   pool_process <port> <pool> <journal> <workers> <ttl_ms>
//
// Environment: PULSE_TEST_RATE="<n>,<period_ms>" sets the node's rate limit;
// PULSE_TEST_DISPATCH="<prefix>,<jobs>,<delayed>" makes the node dispatch
// <jobs> jobs <prefix>k<i> and <delayed> delayed ones <prefix>d<i> (due in
// 300 + 100 i ms) once ready and the file PULSE_TEST_GO exists, then print
// "dispatched".

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <string>
#include <thread>
#include <unistd.h>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "tests/support/process_main.hpp"

using namespace std::chrono_literals;

namespace {

std::atomic<bool> stop_requested{false};

void on_term(int) {
  stop_requested = true;
}

int64_t mono_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

class journal_handler : public pulse::job_handler {
public:
  explicit journal_handler(int fd) : fd_(fd) {}

  caf::error start(const pulse::job& j) override {
    write('s', j.worker, j.key, " " + std::to_string(j.attempt));
    std::lock_guard<std::mutex> guard{mtx_};
    workers_[j.key] = j.worker;
    return caf::none;
  }

  caf::error stop(const std::string& key) override {
    std::string w;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      w = workers_[key];
      workers_.erase(key);
    }
    write('x', w, key);
    return caf::none;
  }

private:
  void write(char kind, const std::string& worker, const std::string& key,
             const std::string& extra = {}) {
    auto line = std::string(1, kind) + " " + std::to_string(mono_ns()) + " "
                + worker + " " + key + extra + "\n";
    auto n = ::write(fd_, line.data(), line.size());
    (void) n;
  }

  int fd_;
  std::mutex mtx_;
  std::map<std::string, std::string> workers_;
};

/// Dispatches what PULSE_TEST_DISPATCH asks for (see above), retrying a
/// dispatch that failed (a retry answered job_exists was stored).
void dispatch_all(pulse::pool_node& node, const std::string& what) {
  if (auto go = std::getenv("PULSE_TEST_GO"))
    for (int i = 0; i < 6000 && ::access(go, F_OK) != 0; ++i)
      std::this_thread::sleep_for(5ms);
  auto c1 = what.find(',');
  auto c2 = what.find(',', c1 + 1);
  auto prefix = what.substr(0, c1);
  auto jobs = std::atoi(what.c_str() + c1 + 1);
  auto delayed = std::atoi(what.c_str() + c2 + 1);
  for (int i = 0; i < jobs; ++i) {
    auto key = prefix + "k" + std::to_string(i);
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto err = node.dispatch(key, "x");
      if (!err || pulse::code_of(err) == pulse::errc::job_exists)
        break;
      std::this_thread::sleep_for(20ms);
    }
  }
  for (int i = 0; i < delayed; ++i)
    (void) node.dispatch_in(prefix + "d" + std::to_string(i), "x",
                            std::chrono::milliseconds{300 + 100 * i});
  std::printf("dispatched\n");
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: pool_process port pool journal workers ttl_ms\n");
    return 2;
  }
  std::signal(SIGTERM, on_term);
  pulse::test::helper_process proc{argv[1]};
  int fd = ::open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) {
    std::perror("open journal");
    return 1;
  }
  pulse::pool_options o;
  o.worker_ttl = std::chrono::milliseconds{std::atoi(argv[5])};
  o.ack_grace_period = 500ms;
  o.job_sink_block_duration = 100ms;
  o.worker_shutdown_ttl = 2s;
  o.retry_base = 200ms; // jobs dispatched with max_attempts retry quickly
  if (auto rate = std::getenv("PULSE_TEST_RATE")) {
    o.rate_limit = std::atoll(rate);
    if (auto comma = std::strchr(rate, ','))
      o.rate_period = std::chrono::milliseconds{std::atoll(comma + 1)};
  }
  auto node = pulse::pool_node::add_node(*proc.rt, argv[2], o);
  if (!node) {
    std::fprintf(stderr, "%s\n", pulse::render(node.error()).c_str());
    return 1;
  }
  auto handler = std::make_shared<journal_handler>(fd);
  for (int i = 0; i < std::atoi(argv[4]); ++i) {
    auto w = (*node)->add_worker(handler);
    if (!w) {
      std::fprintf(stderr, "%s\n", pulse::render(w.error()).c_str());
      return 1;
    }
  }
  std::printf("ready\n");
  std::fflush(stdout);
  if (auto what = std::getenv("PULSE_TEST_DISPATCH"))
    dispatch_all(**node, what);
  while (!stop_requested)
    std::this_thread::sleep_for(10ms);
  (*node)->close();
  std::printf("closed\n");
  std::fflush(stdout);
  node->reset();
  return 0;
}
