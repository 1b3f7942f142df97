// pool_scheduler: a job producer whose plan is reconciled every second on
// one node of pool "reports": the plan keeps one job per active region;
// regions come and go, and the scheduler starts and stops jobs to match.
// Runs a worker node itself; start more copies against one Redis to see
// the plan run on only one node per interval.

#include <iostream>
#include <thread>

#include "examples/common.hpp"
#include "pulse/actors/pool/pool.hpp"

namespace {

class region_worker : public pulse::job_handler {
public:
  caf::error start(const pulse::job& j) override {
    std::cout << "  start " << j.key << std::endl;
    return caf::none;
  }
  caf::error stop(const std::string& key) override {
    std::cout << "  stop " << key << std::endl;
    return caf::none;
  }
};

class regions : public pulse::job_producer {
public:
  std::string name() const override {
    return "regions";
  }
  caf::expected<pulse::job_plan> plan() override {
    static const std::vector<std::vector<std::string>> rounds{
      {"eu", "us"}, {"eu", "us", "apac"}, {"us", "apac"}, {"apac"}};
    auto& active = rounds[std::min(round_++, rounds.size() - 1)];
    std::cout << "plan #" << round_ << ":";
    pulse::job_plan p;
    for (auto& r : active) {
      std::cout << " " << r;
      p.start.emplace_back("region:" + r, r);
    }
    std::cout << std::endl;
    p.stop_all = true; // stop what is no longer planned
    return p;
  }

private:
  size_t round_ = 0;
};

} // namespace

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto node = app.must(pulse::pool_node::add_node(
                         *app.rt, "reports",
                         pulse::pool_options::from(app.cfg.opts().pool)),
                       "pool node");
  app.must(node->add_worker(std::make_shared<region_worker>()), "worker");
  auto sched = app.must(node->schedule(std::make_shared<regions>(),
                                       std::chrono::seconds{1}),
                        "schedule");
  std::this_thread::sleep_for(std::chrono::milliseconds{4500});
  caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
  node->shutdown();
}
