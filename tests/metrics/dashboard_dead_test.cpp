// A pool's dead set on the dashboard and in /metrics: headless Chromium
// shows the count and the oldest jobs with their last error, presses the
// redrive button of one job and the purge-all button (through the page's
// `#deadredrive=<pool>/<key>` and `#deadpurge=<pool>` hooks), and
// `pulse_pool_dead_jobs{pool=...}` follows.

#include <atomic>
#include <string>

#include <boost/test/unit_test.hpp>

#include "pulse/runtime/errors.hpp"
#include "tests/metrics/browser.hpp"
#include "tests/metrics/live_system.hpp"
#include "tests/support/temp_dir.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace pulse::test {

/// Fails every job ("refused <payload>") while `failing`.
struct refusing_task : task_handler {
  std::atomic<bool> failing{true};
  caf::expected<std::string> run(const job& j) override {
    if (failing)
      return make_error(errc::handler_failed, "refused " + j.payload);
    return "done " + j.payload;
  }
};

/// The live system plus pool "tasks" (one attempt per job) whose three
/// jobs t1, t2, t3 all failed into its dead set.
struct dead_system : live_system {
  dead_system() {
    pool_options po;
    po.worker_ttl = 2s;
    po.max_attempts = 1;
    auto n = pool_node::add_node(*rt, "tasks", po);
    BOOST_REQUIRE_MESSAGE(n, describe(n));
    tasks = std::move(*n);
    BOOST_REQUIRE(tasks->add_worker(handler));
    for (auto k : {"t1", "t2", "t3"})
      BOOST_REQUIRE(!tasks->dispatch_and_wait(k, std::string{"p"} + k, 10s));
    BOOST_REQUIRE(wait_until([&] {
      auto d = tasks->dead_jobs();
      return d && d->size() == 3;
    }));
  }

  ~dead_system() {
    if (tasks)
      tasks->close();
  }

  std::optional<std::string> dead_gauge(const std::string& pool) {
    return sample_value(http_get(port(), "/metrics").body,
                        "pulse_pool_dead_jobs{pool=\"" + pool + "\"}");
  }

  std::shared_ptr<refusing_task> handler = std::make_shared<refusing_task>();
  std::unique_ptr<pool_node> tasks;
};

} // namespace pulse::test

BOOST_AUTO_TEST_SUITE(dashboard_dead)

BOOST_FIXTURE_TEST_CASE(metrics_count_each_pools_dead_jobs, dead_system) {
  BOOST_TEST(dead_gauge("tasks").value_or("<none>") == "3");
  BOOST_TEST(dead_gauge("jobs").value_or("<none>") == "0");
  // promtool accepts the scrape with the dead-job series in it.
  if (auto promtool = find_program("promtool"); !promtool.empty()) {
    std::string out;
    auto rc = run_program({promtool, "check", "metrics"},
                          http_get(port(), "/metrics").body, out);
    BOOST_TEST(rc == 0, "promtool rc=" << rc << ": " << out);
    BOOST_TEST(out.empty(), "promtool said: " << out);
  }
  BOOST_REQUIRE(tasks->purge_dead({"t2"}));
  BOOST_TEST(dead_gauge("tasks").value_or("<none>") == "2");
  // The HTTP actions, without the page: bad pool name, then purge all.
  auto bad = http_post(port(), "/api/dead-jobs/purge?pool=bad%20name");
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(bad.body.find("error") != std::string::npos, bad.body);
  auto r = http_post(port(), "/api/dead-jobs/purge?pool=tasks");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "{\"deleted\":2,\"left\":0}");
  BOOST_TEST(dead_gauge("tasks").value_or("<none>") == "0");
}

BOOST_FIXTURE_TEST_CASE(browser_shows_redrives_and_purges_dead_jobs,
                        dead_system) {
  auto exe = find_program("chromium");
  if (exe.empty()) {
    BOOST_TEST_MESSAGE("SKIPPED: chromium not installed "
                       "(apt-get install chromium)");
    return;
  }
  temp_dir dir;
  auto base = "http://127.0.0.1:" + std::to_string(port()) + "/";
  // 1. pool, dead jobs, oldest (key, attempts: last error).
  std::string dom;
  auto rc = chromium(exe, dir.path, base, {"--dump-dom"}, dom);
  BOOST_REQUIRE_MESSAGE(rc == 0, "chromium rc=" << rc << ": " << dom);
  auto row = row_cells(dom, "dead-tasks");
  BOOST_REQUIRE_MESSAGE(row.size() >= 3, dom);
  BOOST_TEST(row[0] == "tasks");
  BOOST_TEST(row[1] == "3");
  for (auto k : {"t1", "t2", "t3"})
    BOOST_TEST(row[2].find(std::string{k} + ", 1: ") != std::string::npos,
               row[2]);
  BOOST_TEST(row[2].find("refused pt2") != std::string::npos, row[2]);
  row = row_cells(dom, "dead-jobs");
  BOOST_REQUIRE_MESSAGE(row.size() >= 3, dom);
  BOOST_TEST(row[1] == "0");
  // 2. Redrive t1 once it can succeed: it runs again and finishes.
  handler->failing = false;
  rc = chromium(exe, dir.path, base + "#deadredrive=tasks/t1", {"--dump-dom"},
                dom);
  BOOST_REQUIRE_MESSAGE(rc == 0, "chromium rc=" << rc << ": " << dom);
  BOOST_TEST(dom.find("data-dead-done=\"redrive:tasks:1\"")
               != std::string::npos,
             dom);
  BOOST_TEST(dom.find("redrove 1 dead job(s) of pool tasks, 2 left")
               != std::string::npos);
  row = row_cells(dom, "dead-tasks");
  BOOST_REQUIRE(row.size() >= 3);
  BOOST_TEST(row[1] == "2");
  BOOST_TEST(row[2].find("t1") == std::string::npos, row[2]);
  BOOST_REQUIRE(wait_until([&] {
    auto kept = tasks->job_result("t1");
    return kept && *kept && (*kept)->ok;
  }));
  // 3. Purge all: the dead set is empty, on the page and in Redis.
  rc = chromium(exe, dir.path, base + "#deadpurge=tasks", {"--dump-dom"}, dom);
  BOOST_REQUIRE_MESSAGE(rc == 0, "chromium rc=" << rc << ": " << dom);
  BOOST_TEST(dom.find("data-dead-done=\"purge:tasks:2\"") != std::string::npos,
             dom);
  row = row_cells(dom, "dead-tasks");
  BOOST_REQUIRE(row.size() >= 3);
  BOOST_TEST(row[1] == "0");
  auto left = tasks->dead_jobs();
  BOOST_REQUIRE_MESSAGE(left, describe(left));
  BOOST_TEST(left->empty());
  BOOST_TEST(dead_gauge("tasks").value_or("<none>") == "0");
}

BOOST_AUTO_TEST_SUITE_END()
