// pool_worker: a worker process of pool "jobs". Joins with two workers that
// print each job they start and stop, and runs until SIGINT or SIGTERM; then
// it closes its node, which hands its running jobs to the pool's other
// workers. Point several processes (and pool_producer) at one Redis:
//
//   ./pool_worker --pulse.redis.host=127.0.0.1 --pulse.redis.port=6379

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "examples/common.hpp"
#include "pulse/actors/pool/pool.hpp"

namespace {

std::atomic<bool> stop_requested{false};

class printing_worker : public pulse::job_handler {
public:
  caf::error start(const pulse::job& j) override {
    std::cout << "worker " << j.worker << " starts " << j.key << " ("
              << j.payload << ")" << std::endl;
    return caf::none;
  }
  caf::error stop(const std::string& key) override {
    std::cout << "stops " << key << std::endl;
    return caf::none;
  }
  caf::error handle_notification(const std::string& key,
                                 const std::string& payload) override {
    std::cout << "notification for " << key << ": " << payload << std::endl;
    return caf::none;
  }
};

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, [](int) { stop_requested = true; });
  std::signal(SIGTERM, [](int) { stop_requested = true; });
  example::app app{argc, argv};
  auto node = app.must(pulse::pool_node::add_node(
                         *app.rt, "jobs",
                         pulse::pool_options::from(app.cfg.opts().pool)),
                       "pool node");
  auto handler = std::make_shared<printing_worker>();
  for (int i = 0; i < 2; ++i)
    app.must(node->add_worker(handler), "worker");
  std::cout << "node " << node->id() << " serving pool jobs; Ctrl-C closes"
            << std::endl;
  while (!stop_requested)
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  node->close();
  std::cout << "closed: jobs handed over" << std::endl;
}
