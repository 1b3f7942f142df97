// The `pulse` tool on a pool's delayed jobs and kept results: `delayed`
// (key, due time, payload size), `result`, and `job` showing a finished or
// delayed job; table and JSON output, and the error cases.

#include <boost/test/unit_test.hpp>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/tools/cli_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// Doubles the number in the payload; fails on "boom".
struct doubler : task_handler {
  caf::expected<std::string> run(const job& j) override {
    if (j.payload == "boom")
      return make_error(errc::handler_failed, "cannot double boom");
    return std::to_string(2 * std::stoi(j.payload));
  }
};

pulse::pool_options steady() {
  auto o = fast_options();
  o.worker_ttl = 10s;
  return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(cli_pool_results, cli_fixture)

BOOST_AUTO_TEST_CASE(delayed_lists_keys_due_times_and_payload_sizes) {
  auto n = node(steady(), "later");
  BOOST_REQUIRE(n->add_worker(std::make_shared<doubler>()));
  // Far enough ahead that none is promoted while the test looks.
  auto due_a = n->dispatch_in("report-b", std::string(300, 'x'), 1h);
  BOOST_REQUIRE_MESSAGE(due_a, describe(due_a));
  auto due_b = n->dispatch_in("report-a", "12", 2h);
  BOOST_REQUIRE_MESSAGE(due_b, describe(due_b));
  auto j = cli_json({"delayed", "later"});
  BOOST_TEST(j["pool"] == "later");
  BOOST_TEST(j["total"] == 2);
  BOOST_REQUIRE_EQUAL(j["jobs"].size(), 2u);
  // Earliest first.
  BOOST_TEST(j["jobs"][0]["key"] == "report-b");
  BOOST_TEST(j["jobs"][0]["due_ms"] == *due_a);
  BOOST_TEST(j["jobs"][0]["payload_bytes"] == 300);
  auto in = j["jobs"][0]["due_in_ms"].get<int64_t>();
  BOOST_TEST(in > 3'500'000); // ~1 h on Redis' clock
  BOOST_TEST(in <= 3'600'000);
  BOOST_TEST(j["jobs"][1]["key"] == "report-a");
  BOOST_TEST(j["jobs"][1]["due_ms"] == *due_b);
  BOOST_TEST(j["jobs"][1]["payload_bytes"] == 2);
  auto out = cli_ok({"delayed", "later"});
  BOOST_TEST(has(out, "delayed jobs 2"), out);
  BOOST_TEST(has(out, "DUE IN"), out);
  BOOST_TEST(has(out, "report-b"), out);
  BOOST_TEST(has(out, "300 B"), out);
  BOOST_TEST((has(out, "in 59m") || has(out, "in 1h00m")), out);
  // --count limits the list, not the total.
  j = cli_json({"delayed", "later", "--count", "1"});
  BOOST_TEST(j["total"] == 2);
  BOOST_TEST(j["jobs"].size() == 1u);
  BOOST_TEST(has(cli_ok({"delayed", "later", "--count", "1"}),
                 "showing the first 1"));
  // `job` shows a delayed job that has no record yet.
  j = cli_json({"job", "later", "report-a"});
  BOOST_TEST(j["state"] == "delayed");
  BOOST_TEST(j["delayed"]["due_ms"] == *due_b);
  BOOST_TEST(j["result"].is_null());
  out = cli_ok({"job", "later", "report-a"});
  BOOST_TEST(has(out, "delayed"), out);
  BOOST_TEST((has(out, "in 1h59m") || has(out, "in 2h00m")), out);
  // Cancelled: gone from the list.
  BOOST_REQUIRE(!n->cancel_delayed("report-a"));
  j = cli_json({"delayed", "later"});
  BOOST_TEST(j["total"] == 1);
  BOOST_TEST(j["jobs"][0]["key"] == "report-b");
}

BOOST_AUTO_TEST_CASE(result_and_job_show_kept_outcomes) {
  auto n = node(steady(), "calc");
  BOOST_REQUIRE(n->add_worker(std::make_shared<doubler>()));
  auto r = n->dispatch_and_wait("double-21", "21", 10s);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_REQUIRE_EQUAL(*r, "42");
  auto f = n->dispatch_and_wait("bad", "boom", 10s);
  BOOST_REQUIRE(!f);
  auto j = cli_json({"result", "calc", "double-21"});
  BOOST_TEST(j["key"] == "double-21");
  BOOST_TEST(j["ok"] == true);
  BOOST_TEST(j["result"] == "42");
  auto ttl = j["expires_in_ms"].get<int64_t>();
  BOOST_TEST(ttl > 0);
  BOOST_TEST(ttl <= 3'600'000); // result-retention: 1 h by default
  auto out = cli_ok({"result", "calc", "double-21"});
  BOOST_TEST(has(out, "done"), out);
  BOOST_TEST(has(out, "2 bytes: 42"), out);
  j = cli_json({"result", "calc", "bad"});
  BOOST_TEST(j["ok"] == false);
  // The kept error text as the worker reported it (code and message).
  BOOST_TEST(has(j["result"].get<std::string>(), "cannot double boom"),
             j["result"]);
  out = cli_ok({"result", "calc", "bad"});
  BOOST_TEST(has(out, "failed"), out);
  BOOST_TEST(has(out, "cannot double boom"), out);
  // `job` on a finished job: no record, the kept outcome.
  j = cli_json({"job", "calc", "double-21"});
  BOOST_TEST(j["state"] == "finished");
  BOOST_TEST(j["result"]["ok"] == true);
  BOOST_TEST(j["result"]["result"] == "42");
  BOOST_TEST(j["delayed"].is_null());
  out = cli_ok({"job", "calc", "bad"});
  BOOST_TEST(has(out, "finished"), out);
  BOOST_TEST(has(out, "cannot double boom"), out);
  // Jobs listed by `jobs` are running ones only: none here.
  BOOST_TEST(cli_json({"jobs", "calc"}).empty());
}

BOOST_AUTO_TEST_CASE(delayed_and_result_errors_exit_with_1) {
  auto n = node(steady(), "calc");
  BOOST_REQUIRE(n->add_worker(std::make_shared<doubler>()));
  auto check = [&](std::vector<std::string> args, const std::string& msg) {
    auto r = cli(args);
    BOOST_TEST(r.rc == 1, "rc " << r.rc << " for " << args.front());
    BOOST_TEST(has(r.err, msg), r.err);
    BOOST_TEST(r.out.empty(), r.out);
  };
  check({"delayed", "nope"}, "unknown pool \"nope\"");
  check({"result", "nope", "k"}, "unknown pool \"nope\"");
  check({"result", "calc", "never-ran"},
        "keeps no result of job \"never-ran\"");
  check({"job", "calc", "never-ran"}, "has no job \"never-ran\"");
  check({"delayed", "bad name"}, "not a valid pool name");
  check({"--json", "result", "calc", "never-ran"}, "keeps no result");
  // An empty delayed set is not an error.
  auto j = cli_json({"delayed", "calc"});
  BOOST_TEST(j["total"] == 0);
  BOOST_TEST(j["jobs"].empty());
  BOOST_TEST(has(cli_ok({"delayed", "calc"}), "no delayed jobs"));
}

BOOST_AUTO_TEST_SUITE_END()
