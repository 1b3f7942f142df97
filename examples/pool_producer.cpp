// pool_producer: dispatches jobs to pool "jobs" from a client-only node,
// notifies one, then stops them all. Each dispatch returns once the worker
// that owns the key (jump hash over the pool's workers) started it.
//
// With a shared Redis, run pool_worker processes first:
//   ./pool_producer --pulse.redis.host=127.0.0.1 --pulse.redis.port=6379
// With the embedded Redis (no host configured) it runs a local worker node
// itself, so it works on its own.

#include <iostream>

#include "examples/common.hpp"
#include "pulse/actors/pool/pool.hpp"

namespace {

class quiet_worker : public pulse::job_handler {
public:
  caf::error start(const pulse::job& j) override {
    std::cout << "  local worker starts " << j.key << std::endl;
    return caf::none;
  }
  caf::error stop(const std::string& key) override {
    std::cout << "  local worker stops " << key << std::endl;
    return caf::none;
  }
};

} // namespace

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto defaults = pulse::pool_options::from(app.cfg.opts().pool);
  std::unique_ptr<pulse::pool_node> local;
  if (app.rt->embedded()) {
    local = app.must(pulse::pool_node::add_node(*app.rt, "jobs", defaults),
                     "worker node");
    app.must(local->add_worker(std::make_shared<quiet_worker>()), "worker");
  }
  auto opts = defaults;
  opts.client_only = true;
  auto producer = app.must(pulse::pool_node::add_node(*app.rt, "jobs", opts),
                           "client node");
  for (int i = 0; i < 5; ++i) {
    auto key = "report-" + std::to_string(i);
    auto err = producer->dispatch(key, "{\"month\":" + std::to_string(i + 1)
                                         + "}");
    std::cout << "dispatch " << key << ": "
              << (err ? pulse::render(err) : std::string{"started"})
              << std::endl;
  }
  // A second dispatch of a running key is refused.
  std::cout << "dispatch report-0 again: "
            << pulse::render(producer->dispatch("report-0", "{}"))
            << std::endl;
  producer->notify_worker("report-1", "priority=high");
  auto keys = producer->job_keys();
  std::cout << "jobs in the pool: " << (keys ? keys->size() : 0) << std::endl;
  for (int i = 0; i < 5; ++i)
    producer->stop_job("report-" + std::to_string(i));
  producer->close();
  if (local)
    local->shutdown();
}
