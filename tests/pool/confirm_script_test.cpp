// The pool's `confirm_many` script settles several workers' confirms in one
// call (one read of the records, one write per hash, one publish per node)
// exactly as `confirm` settles each group alone; a key in two groups falls
// back to one group after the other. A start whose job ended meanwhile is
// fenced only when its worker was lost (no queue entry will tell it).

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "pulse/actors/pool/scripts.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;

namespace {

/// No retries: a failed start is final.
const std::string cs_no_retries = "0|1000|600000|0|0";
/// Three attempts: a failed first start is retried.
const std::string cs_three_tries = "3|1000|600000|0|0";

/// One job of a confirm: key, epoch, outcome, dispatch ID, node, error.
std::vector<std::string> confirm_job(const std::string& key, const std::string& epoch,
                             const std::string& outcome,
                             const std::string& did = "",
                             const std::string& err = "") {
  return {key, epoch, outcome, did, "n1", err};
}

/// A worker's confirm: worker, keep_ms, policy, then its jobs.
std::vector<std::string> confirm_group(const std::string& w, const std::string& pol,
                               std::vector<std::vector<std::string>> jobs) {
  std::vector<std::string> out{w, "60000", pol};
  for (auto& j : jobs)
    out.insert(out.end(), j.begin(), j.end());
  return out;
}

} // namespace

/// Pools `a` and `b` in one Redis, with the same jobs and confirms.
struct confirm_fixture : actor_fixture {
  /// Writes the same pending jobs into pool `pool`.
  void seed(const std::string& pool) {
    auto pfx = pool_scripts::pool_prefix(pool);
    auto& r = redis();
    // key -> owner|epoch|state|node|dispatch_id
    BOOST_REQUIRE(r("HSET", pfx + "jobs", "k1", "w1|11|p|n1|", "k2",
                    "w1|12|p|n1|d2", "k3", "w2|13|p|n1|d3.60000", "k4",
                    "w2|14|p|n1|", "k5", "w3|15|p|n1|d5.60000", "k6",
                    "w3|99|p|n1|"));
    BOOST_REQUIRE(r("HSET", pfx + "payloads", "k1", "p1", "k2", "p2", "k3",
                    "p3", "k4", "p4", "k5", "p5", "k6", "p6"));
    BOOST_REQUIRE(r("SADD", pfx + "owned:w1", "k1", "k2"));
    BOOST_REQUIRE(r("SADD", pfx + "owned:w2", "k3", "k4"));
    BOOST_REQUIRE(r("SADD", pfx + "owned:w3", "k5", "k6"));
    BOOST_REQUIRE(r("SET", pfx + "queued", "6"));
  }

  /// The three workers' confirms: starts, a final failure, a failure to
  /// retry, a task done at once, a fenced start (k6's epoch moved on).
  std::vector<std::vector<std::string>> groups() {
    return {
      confirm_group("w1", cs_no_retries, {confirm_job("k1", "11", "ok"), confirm_job("k2", "12", "ok", "d2")}),
      confirm_group("w2", cs_three_tries,
            {confirm_job("k3", "13", "done", "d3.60000", "result-3"),
             confirm_job("k4", "14", "fail", "", "boom")}),
      confirm_group("w3", cs_no_retries,
            {confirm_job("k5", "15", "fail", "d5.60000", "bad"), confirm_job("k6", "16", "ok")}),
    };
  }

  /// Every key of pool `pool` with its content, rendered.
  std::vector<std::string> state(const std::string& pool) {
    auto pfx = pool_scripts::pool_prefix(pool);
    std::vector<std::string> out;
    auto& r = redis();
    for (auto name : {"jobs", "payloads", "tries", "delayed_payloads",
                      "delayed_meta"}) {
      auto v = r("HGETALL", pfx + name);
      BOOST_REQUIRE(v);
      // Retry histories carry the time of the failure (Unix ms).
      out.push_back(std::regex_replace(std::string{name} + "=" + v->render(),
                                       std::regex{"[0-9]{13}"}, "<ms>"));
    }
    for (auto w : {"w1", "w2", "w3"}) {
      auto v = r("SORT", pfx + "owned:" + w, "ALPHA");
      BOOST_REQUIRE(v);
      out.push_back(std::string{"owned:"} + w + "=" + v->render());
    }
    for (auto key : {"queued", "result:k3", "result:k4", "result:k5"}) {
      auto v = r("GET", pfx + key);
      BOOST_REQUIRE(v);
      out.push_back(std::string{key} + "=" + v->render());
    }
    auto v = r("ZRANGE", pfx + "delayed", "0", "-1");
    BOOST_REQUIRE(v);
    out.push_back("delayed=" + v->render());
    return out;
  }

  /// `PUBLISH` calls so far (scripts' included).
  uint64_t publishes() {
    auto info = redis()("INFO", "commandstats");
    BOOST_REQUIRE(info);
    auto at = info->str.find("cmdstat_publish:calls=");
    if (at == std::string::npos)
      return 0;
    return std::stoull(info->str.substr(at + 22));
  }
};

BOOST_FIXTURE_TEST_SUITE(confirm_script, confirm_fixture)

BOOST_AUTO_TEST_CASE(confirm_many_settles_each_group_as_confirm_alone) {
  seed("a");
  seed("b");
  auto keys_a = pool_scripts::script_keys(pool_scripts::pool_prefix("a"));
  auto keys_b = pool_scripts::script_keys(pool_scripts::pool_prefix("b"));
  // Pool a: one `confirm` per group.
  auto p0 = publishes();
  std::vector<std::string> alone;
  for (auto& g : groups()) {
    auto r = redis().eval(pool_scripts::confirm(), keys_a, g);
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    alone.push_back(r->render());
  }
  auto p1 = publishes();
  // Pool b: one `confirm_many` call.
  std::vector<std::string> args;
  for (auto& g : groups()) {
    args.push_back(std::to_string(g.size()));
    args.insert(args.end(), g.begin(), g.end());
  }
  auto r = redis().eval(pool_scripts::confirm_many(), keys_b, args);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  auto p2 = publishes();
  BOOST_REQUIRE(r->is_array());
  BOOST_REQUIRE_EQUAL(r->elements.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(r->elements[i].render() == alone[i], "group " << i);
  // k6's start is fenced (its epoch is 99, not 16).
  BOOST_TEST(alone[2].find("k6") != std::string::npos, alone[2]);
  auto a = state("a");
  auto b = state("b");
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    BOOST_TEST(a[i] == b[i]);
  // What was settled: k1, k2 run; k3 done, k5 failed for good (results
  // kept), k4 waits for its retry; 4 of the 6 pending jobs left `queued`
  // for good, k6 is still pending.
  BOOST_TEST(b[0].find("w1|11|r|") != std::string::npos, b[0]);
  BOOST_TEST(b[0].find("k3") == std::string::npos, b[0]);
  BOOST_TEST(b[0].find("k4") == std::string::npos, b[0]);
  BOOST_TEST(b[0].find("k5") == std::string::npos, b[0]);
  BOOST_TEST(b[8] == "queued=\"1\"" , b[8]);
  BOOST_TEST(b[12].find("k4") != std::string::npos, b[12]);
  // Node n1 heard of the three groups' dispatches in one message, not in
  // one per group (besides: one notice of k4's retry on the control
  // channel either way).
  BOOST_TEST(p1 - p0 == 4u);
  BOOST_TEST(p2 - p1 == 2u);
}

BOOST_AUTO_TEST_CASE(a_key_in_two_groups_is_settled_one_group_after_the_other) {
  // The same worker's start of k1 confirmed, then its failure, in one call:
  // the failure must see the job running (not pending), so `queued` drops
  // once, as with two `confirm` calls.
  seed("c");
  auto keys = pool_scripts::script_keys(pool_scripts::pool_prefix("c"));
  auto first = confirm_group("w1", cs_no_retries, {confirm_job("k1", "11", "ok")});
  auto second = confirm_group("w1", cs_no_retries, {confirm_job("k1", "11", "fail", "", "late")});
  std::vector<std::string> args{std::to_string(first.size())};
  args.insert(args.end(), first.begin(), first.end());
  args.push_back(std::to_string(second.size()));
  args.insert(args.end(), second.begin(), second.end());
  auto r = redis().eval(pool_scripts::confirm_many(), keys, args);
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_REQUIRE(r->is_array());
  BOOST_TEST(r->elements.size() == 2u);
  auto pfx = pool_scripts::pool_prefix("c");
  auto queued = redis()("GET", pfx + "queued");
  BOOST_REQUIRE(queued);
  BOOST_TEST(queued->str == "5"); // 6 - 1: k1 left `queued` once
  auto rec = redis()("HGET", pfx + "jobs", "k1");
  BOOST_REQUIRE(rec);
  BOOST_TEST(rec->is_nil()); // the failure dropped it
  auto owned = redis()("SISMEMBER", pfx + "owned:w1", "k1");
  BOOST_REQUIRE(owned);
  BOOST_TEST(owned->integer == 0);
}

BOOST_AUTO_TEST_CASE(a_start_ended_meanwhile_is_fenced_only_for_a_lost_worker) {
  // w1 is a member: k1 was completed and k2 stopped and dispatched to it
  // again since its start (their `C`, `T` and `S` entries are in its
  // queue: not fenced); k3 moved to w2 (fenced). w3 is no member (lost):
  // its k5, settled by a cleaner, is fenced. Each case's reply also comes
  // from `confirm_many`.
  seed("d");
  auto pfx = pool_scripts::pool_prefix("d");
  auto keys = pool_scripts::script_keys(pfx);
  auto& r = redis();
  BOOST_REQUIRE(r("HSET", pfx + "workers", "w1", "1|n1"));
  BOOST_REQUIRE(r("HDEL", pfx + "jobs", "k1", "k5"));
  BOOST_REQUIRE(r("HSET", pfx + "jobs", "k2", "w1|20|p|n1|", "k3",
                  "w2|21|p|n1|"));
  auto member = confirm_group("w1", cs_no_retries,
                              {confirm_job("k1", "11", "ok"),
                               confirm_job("k2", "12", "ok"),
                               confirm_job("k3", "7", "ok")});
  auto lost = confirm_group("w3", cs_no_retries,
                            {confirm_job("k5", "15", "ok")});
  std::vector<std::string> replies;
  for (auto& g : {member, lost}) {
    auto x = r.eval(pool_scripts::confirm(), keys, g);
    BOOST_REQUIRE_MESSAGE(x, describe(x));
    replies.push_back(x->render());
  }
  BOOST_TEST(replies[0] == "[\"k3\", \"7\"]");
  BOOST_TEST(replies[1] == "[\"k5\", \"15\"]");
  std::vector<std::string> args;
  for (auto& g : {member, lost}) {
    args.push_back(std::to_string(g.size()));
    args.insert(args.end(), g.begin(), g.end());
  }
  auto many = r.eval(pool_scripts::confirm_many(), keys, args);
  BOOST_REQUIRE_MESSAGE(many, describe(many));
  BOOST_REQUIRE(many->is_array());
  BOOST_REQUIRE_EQUAL(many->elements.size(), 2u);
  BOOST_TEST(many->elements[0].render() == replies[0]);
  BOOST_TEST(many->elements[1].render() == replies[1]);
  // k2's newer start is still pending (the worker confirms it next).
  auto k2 = r("HGET", pfx + "jobs", "k2");
  BOOST_REQUIRE(k2);
  BOOST_TEST(k2->str == "w1|20|p|n1|");
}

BOOST_AUTO_TEST_SUITE_END()
