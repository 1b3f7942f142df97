// The `pulse` tool on a pool's dead set: `dead-jobs <p>` (key, attempts,
// time of death, last error; --limit), `dead-jobs <p> redrive` and `purge`
// (by key and --all); table and JSON output, and the error cases.

#include <boost/test/unit_test.hpp>

#include <atomic>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/tools/cli_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// Fails every attempt ("no luck <attempt> for <payload>") while `failing`.
struct doomed : task_handler {
  std::atomic<bool> failing{true};
  caf::expected<std::string> run(const job& j) override {
    if (failing)
      return make_error(errc::handler_failed,
                        "no luck " + std::to_string(j.attempt) + " for "
                          + j.payload);
    return "fine " + j.payload;
  }
};

pulse::pool_options two_attempts() {
  auto o = fast_options();
  o.worker_ttl = 10s;
  o.max_attempts = 2;
  o.retry_base = 20ms;
  o.retry_jitter = 0;
  return o;
}

/// Dispatches `keys` (payload = key) and waits until all are dead.
void kill_jobs(pool_node& n, const std::vector<std::string>& keys) {
  for (auto& k : keys)
    BOOST_REQUIRE(!n.dispatch_and_wait(k, k, 10s));
  BOOST_REQUIRE(wait_until([&] {
    auto d = n.dead_jobs(1000);
    return d && d->size() >= keys.size();
  }));
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(cli_pool_dead, cli_fixture)

BOOST_AUTO_TEST_CASE(dead_jobs_lists_attempts_time_of_death_and_last_error) {
  auto n = node(two_attempts(), "mail");
  auto h = std::make_shared<doomed>();
  BOOST_REQUIRE(n->add_worker(h));
  kill_jobs(*n, {"first", "second", "third"});
  auto lib = n->dead_jobs();
  BOOST_REQUIRE_MESSAGE(lib, describe(lib));
  BOOST_REQUIRE_EQUAL(lib->size(), 3u);
  auto j = cli_json({"dead-jobs", "mail"});
  BOOST_TEST(j["pool"] == "mail");
  BOOST_TEST(j["total"] == 3);
  BOOST_REQUIRE_EQUAL(j["jobs"].size(), 3u);
  // Oldest first, as the library reads them.
  for (size_t i = 0; i < 3; ++i) {
    auto& x = j["jobs"][i];
    BOOST_TEST(x["key"] == lib->at(i).key);
    BOOST_TEST(x["attempts"] == 2);
    BOOST_TEST(x["died_ms"] == lib->at(i).died_at);
    BOOST_TEST(x["payload"] == lib->at(i).key);
    BOOST_REQUIRE_EQUAL(x["failures"].size(), 2u);
    BOOST_TEST(x["failures"][0]["attempt"] == 1);
    BOOST_TEST(x["failures"][1]["attempt"] == 2);
    BOOST_TEST(x["failures"][1]["at_ms"].get<int64_t>()
               <= x["died_ms"].get<int64_t>());
    BOOST_TEST(has(x["last_error"].get<std::string>(),
                   "no luck 2 for " + lib->at(i).key),
               x["last_error"]);
  }
  BOOST_TEST(j["jobs"][0]["key"] == "first");
  auto out = cli_ok({"dead-jobs", "mail"});
  BOOST_TEST(has(out, "dead jobs 3"), out);
  BOOST_TEST(has(out, "LAST ERROR"), out);
  BOOST_TEST(has(out, "no luck 2 for second"), out);
  BOOST_TEST(has(out, "DIED AT"), out);
  // --limit cuts the list, not the total.
  j = cli_json({"dead-jobs", "mail", "--limit", "1"});
  BOOST_TEST(j["total"] == 3);
  BOOST_REQUIRE_EQUAL(j["jobs"].size(), 1u);
  BOOST_TEST(j["jobs"][0]["key"] == "first");
  BOOST_TEST(has(cli_ok({"dead-jobs", "mail", "-n", "2"}),
                 "showing the oldest 2"));
  BOOST_TEST(cli_json({"dead-jobs", "mail", "--limit", "0"})["jobs"].size()
             == 3u);
}

BOOST_AUTO_TEST_CASE(redrive_and_purge_by_key_and_all) {
  auto n = node(two_attempts(), "mail");
  auto h = std::make_shared<doomed>();
  BOOST_REQUIRE(n->add_worker(h));
  kill_jobs(*n, {"a", "b", "c", "d"});
  h->failing = false;
  // By key: "a" moves and runs again (attempt 1), "nope" is skipped.
  auto j = cli_json({"dead-jobs", "mail", "redrive", "a", "nope"});
  BOOST_TEST(j["moved"] == 1);
  BOOST_TEST(j["skipped"] == 1);
  BOOST_TEST(j["left"] == 3);
  BOOST_REQUIRE(wait_until([&] {
    auto kept = n->job_result("a");
    return kept && *kept && (*kept)->ok;
  }));
  BOOST_TEST((*n->job_result("a"))->value == "fine a");
  // Purge by key.
  auto out = cli_ok({"dead-jobs", "mail", "purge", "b"});
  BOOST_TEST(has(out, "deleted 1 dead jobs; 2 left"), out);
  auto dead = n->dead_jobs();
  BOOST_REQUIRE_MESSAGE(dead, describe(dead));
  BOOST_REQUIRE_EQUAL(dead->size(), 2u);
  BOOST_TEST(dead->at(0).key == "c");
  // --all redrives the rest; they finish.
  out = cli_ok({"dead-jobs", "mail", "redrive", "--all"});
  BOOST_TEST(has(out, "moved 2 dead jobs back into pool mail"), out);
  BOOST_TEST(has(out, "0 left"), out);
  BOOST_REQUIRE(wait_until([&] {
    auto c = n->job_result("c");
    auto d = n->job_result("d");
    return c && *c && (*c)->ok && d && *d && (*d)->ok;
  }));
  BOOST_TEST(cli_json({"dead-jobs", "mail"})["total"] == 0);
  BOOST_TEST(has(cli_ok({"dead-jobs", "mail"}), "no dead jobs"));
  // Purge --all.
  h->failing = true;
  kill_jobs(*n, {"e", "f"});
  j = cli_json({"dead-jobs", "mail", "purge", "--all"});
  BOOST_TEST(j["deleted"] == 2);
  BOOST_TEST(j["left"] == 0);
  BOOST_TEST(n->dead_jobs()->empty());
  // Nothing to redrive moves nothing, without an error.
  j = cli_json({"dead-jobs", "mail", "redrive", "--all"});
  BOOST_TEST(j["moved"] == 0);
}

BOOST_AUTO_TEST_CASE(dead_jobs_errors_exit_with_1) {
  auto n = node(two_attempts(), "mail");
  BOOST_REQUIRE(n->add_worker(std::make_shared<doomed>()));
  auto check = [&](std::vector<std::string> args, const std::string& msg) {
    auto r = cli(args);
    BOOST_TEST(r.rc == 1, "rc " << r.rc << " for " << args.back());
    BOOST_TEST(has(r.err, msg), r.err);
    BOOST_TEST(r.out.empty(), r.out);
  };
  check({"dead-jobs", "nope"}, "unknown pool \"nope\"");
  check({"dead-jobs", "nope", "redrive", "--all"}, "unknown pool \"nope\"");
  check({"dead-jobs", "nope", "purge", "k"}, "unknown pool \"nope\"");
  check({"dead-jobs", "bad name"}, "not a valid pool name");
  check({"dead-jobs", "mail", "purge"}, "name the dead jobs by key, or pass "
                                        "--all");
  check({"dead-jobs", "mail", "redrive", "k", "--all"}, "not both");
  // Redis down: a clear error within the connect timeout.
  auto port = this->port();
  n.reset();
  server().stop();
  auto r = run_cli({"--pulse.redis.host=127.0.0.1",
                    "--pulse.redis.port=" + std::to_string(port),
                    "--pulse.redis.connect-timeout=500ms", "dead-jobs",
                    "mail"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "cannot reach Redis at 127.0.0.1:"
                          + std::to_string(port)),
             r.err);
  BOOST_TEST((r.elapsed < 5s), r.elapsed.count() << " ms");
}

BOOST_AUTO_TEST_SUITE_END()
