// The dashboard in a real browser: headless Chromium loads `/` from a live
// system, the test checks the numbers the page shows (sinks and their
// streams, pools, jobs with delayed jobs and kept results, workers),
// presses the redrive button of the sink and the stop button of a job
// (through the page's `#redrive=<sink>` and `#stop=<pool>/<key>` hooks,
// which click them after the first render) and saves a screenshot.

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "pulse/actors/streaming/dead_letters.hpp"
#include "tests/metrics/browser.hpp"
#include "tests/metrics/live_system.hpp"
#include "tests/support/temp_dir.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(dashboard)

BOOST_FIXTURE_TEST_CASE(browser_shows_numbers_and_redrives, live_system) {
  auto exe = find_program("chromium");
  if (exe.empty()) {
    BOOST_TEST_MESSAGE("SKIPPED: chromium not installed "
                       "(apt-get install chromium)");
    return;
  }
  temp_dir dir;
  auto base = "http://127.0.0.1:" + std::to_string(port()) + "/";
  BOOST_REQUIRE(node->dispatch_in("nightly", "p", std::chrono::hours{1}));
  // 1. The page renders the live numbers.
  std::string dom;
  auto rc = chromium(exe, dir.path, base, {"--dump-dom"}, dom);
  BOOST_REQUIRE_MESSAGE(rc == 0, "chromium rc=" << rc << ": " << dom);
  BOOST_REQUIRE_MESSAGE(dom.find("data-ready=\"1\"") != std::string::npos,
                        dom);
  // sink, streams, instances, delivered, acked, nacked, dead-lettered,
  // pending, lag, dead letters waiting
  auto sink = row_cells(dom, "sink-billing");
  BOOST_REQUIRE_MESSAGE(sink.size() >= 10, dom);
  BOOST_TEST(sink[0] == "billing");
  BOOST_TEST(sink[1] == "orders");
  BOOST_TEST(sink[3] == "5");
  BOOST_TEST(sink[4] == "4");
  BOOST_TEST(sink[5] == "1");
  BOOST_TEST(sink[6] == "1");
  BOOST_TEST(sink[7] == "0");
  BOOST_TEST(sink[8] == "0");
  BOOST_TEST(sink[9] == "1"); // the nacked event waits in orders:dead-letter
  // Per stream: sink, stream, delivered, acked, nacked, reclaimed,
  // dead-lettered, pending, lag, dead letters waiting.
  auto per_stream = row_cells(dom, "sinkstream-billing-orders");
  BOOST_REQUIRE_MESSAGE(per_stream.size() >= 10, dom);
  BOOST_TEST(per_stream[1] == "orders");
  BOOST_TEST(per_stream[2] == "5");
  BOOST_TEST(per_stream[3] == "4");
  BOOST_TEST(per_stream[4] == "1");
  // Reclaimed: 0, or 1 if the janitor redelivered the nacked event before
  // dead-lettering it; the page shows what /metrics says.
  BOOST_TEST(per_stream[5]
             == sample_value(http_get(port(), "/metrics").body,
                             "pulse_sink_stream_events_reclaimed_total{sink="
                             "\"billing\",stream=\"orders\"}")
                  .value_or("<none>"));
  BOOST_TEST(per_stream[6] == "1");
  BOOST_TEST(per_stream[9] == "1");
  // pool, node, workers, running jobs, queued, dispatches, starts, stops
  auto pool = row_cells(dom, "pool-jobs-" + node_id());
  BOOST_REQUIRE_MESSAGE(pool.size() >= 8, dom);
  BOOST_TEST(pool[2] == "1");
  BOOST_TEST(pool[3] == "2");
  BOOST_TEST(pool[5] == "3");
  BOOST_TEST(pool[6] == "3");
  BOOST_TEST(pool[7] == "1");
  // pool, jobs, keys: k1 was stopped (its record is gone), k2 and k3 run.
  // pool, jobs, keys, delayed, next due, results kept: k1 was stopped (its
  // record is gone), k2 and k3 run; one job is delayed by an hour.
  auto jobs = row_cells(dom, "jobs-jobs");
  BOOST_REQUIRE_MESSAGE(jobs.size() >= 6, dom);
  BOOST_TEST(jobs[1] == "2");
  BOOST_TEST(jobs[2] == "k2, k3");
  BOOST_TEST(jobs[3] == "1");
  BOOST_TEST((jobs[4].rfind("in 35", 0) == 0 || jobs[4].rfind("in 36", 0) == 0),
             jobs[4]);
  BOOST_TEST(jobs[5] == "0");
  // The worker view: pool, worker, name, node, jobs, queue depth.
  auto ws = node->workers();
  BOOST_REQUIRE(ws && ws->size() == 1u);
  auto worker = row_cells(dom, "worker-" + ws->front().id);
  BOOST_REQUIRE_MESSAGE(worker.size() >= 6, dom);
  BOOST_TEST(worker[0] == "jobs");
  BOOST_TEST(worker[1] == ws->front().id);
  BOOST_TEST(worker[2].find(':') != std::string::npos, worker[2]); // a name
  BOOST_TEST(worker[3] != "");
  BOOST_TEST(worker[4] == "2");
  BOOST_TEST(worker[5] == "0");
  auto map_row = row_cells(dom, "map-config");
  BOOST_REQUIRE_MESSAGE(map_row.size() >= 3, dom);
  BOOST_TEST(map_row[2] == std::to_string(map_revision()));
  // 2. The redrive action: the page presses the sink's button.
  auto xlen = [&](const std::string& key) {
    auto r = (*redis)("XLEN", key);
    return r ? r->as_integer().value_or(-1) : -1;
  };
  BOOST_REQUIRE_EQUAL(xlen(dead_letters::key("orders:dead-letter")), 1);
  // Without a subscriber the sink reads nothing more, so the redriven event
  // is not delivered (and dead-lettered again after its grace period) while
  // the test looks.
  subscriber.reset();
  auto before = xlen("pulse:stream:orders");
  rc = chromium(exe, dir.path, base + "#redrive=billing", {"--dump-dom"}, dom);
  BOOST_REQUIRE_MESSAGE(rc == 0, "chromium rc=" << rc << ": " << dom);
  BOOST_TEST(dom.find("data-redrive-moved=\"1\"") != std::string::npos, dom);
  BOOST_TEST(dom.find("redrove 1 dead letter(s) of sink billing")
               != std::string::npos);
  // The page refreshed after the action: nothing waits any more.
  sink = row_cells(dom, "sink-billing");
  BOOST_REQUIRE(sink.size() >= 10);
  BOOST_TEST(sink[9] == "0");
  BOOST_TEST(xlen(dead_letters::key("orders:dead-letter")) == 0);
  BOOST_TEST(xlen("pulse:stream:orders") == before + 1);
  // 3. The stop action: the page presses job k2's stop button; the worker
  // stops it and the refreshed page lists only k3.
  rc = chromium(exe, dir.path, base + "#stop=jobs/k2", {"--dump-dom"}, dom);
  BOOST_REQUIRE_MESSAGE(rc == 0, "chromium rc=" << rc << ": " << dom);
  BOOST_TEST(dom.find("data-stopped=\"jobs/k2\"") != std::string::npos, dom);
  BOOST_TEST(dom.find("stopped job k2 of pool jobs") != std::string::npos);
  jobs = row_cells(dom, "jobs-jobs");
  BOOST_REQUIRE(jobs.size() >= 3);
  BOOST_TEST(jobs[1] == "1");
  BOOST_TEST(jobs[2] == "k3");
  BOOST_TEST(wait_until(
    [&] {
      return sample_value(http_get(port(), "/metrics").body,
                          node_series("pulse_pool_running_jobs"))
             == std::optional<std::string>{"1"};
    },
    10s));
  // A job that is not there: 404 and nothing stops.
  auto missing = http_post(port(), "/api/stop?pool=jobs&key=nope");
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(missing.body.find("has no job nope") != std::string::npos,
             missing.body);
  // 4. A screenshot of the live page, kept in the temp dir and copied to the
  // working directory (build/tests) for people to look at.
  auto shot = dir.path + "/dashboard.png";
  std::string out;
  rc = chromium(exe, dir.path, base,
                {"--hide-scrollbars", "--window-size=1280,900",
                 "--screenshot=" + shot},
                out);
  BOOST_REQUIRE_MESSAGE(rc == 0, "chromium rc=" << rc << ": " << out);
  std::ifstream png{shot, std::ios::binary};
  std::string magic(8, '\0');
  png.read(magic.data(), 8);
  BOOST_TEST(magic == std::string("\x89PNG\r\n\x1a\n", 8));
  png.seekg(0, std::ios::end);
  BOOST_TEST(png.tellg() > 5000);
  std::filesystem::copy_file(shot, "dashboard.png",
                             std::filesystem::copy_options::overwrite_existing);
  BOOST_TEST_MESSAGE("screenshot: " << shot << " (copied to dashboard.png)");
}

BOOST_AUTO_TEST_SUITE_END()
