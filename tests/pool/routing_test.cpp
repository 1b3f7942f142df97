// Jump hash over CRC-64/XZ and pool routing, against the Go Pulse v1.6.5
// reference vectors (no server).

#include <boost/test/unit_test.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/jump_hash.hpp"
#include "tests/support/print.hpp"
#include "pulse/actors/pool/core.hpp"

using namespace pulse;

BOOST_AUTO_TEST_SUITE(jump)

BOOST_AUTO_TEST_CASE(crc64_xz_check_values) {
  BOOST_TEST(crc64_xz("123456789") == 0x995DC9BBDF1939FAull);
  BOOST_TEST(crc64_xz("") == 0u);
  BOOST_TEST(crc64_xz("a") == 0x330284772e652b05ull);
  BOOST_TEST(crc64_xz("job1") == 0xd943590ff3df37bdull);
  BOOST_TEST(crc64_xz("concurrent-job") == 0xa7ea1b0ae448a0beull);
}

BOOST_AUTO_TEST_CASE(reference_vectors) {
  const int64_t ns[] = {1, 2, 3, 4, 5, 7, 10, 100, 1000, 1048576};
  struct row {
    const char* key;
    int64_t expected[10];
  };
  const row rows[] = {
    {"", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {"a", {0, 0, 0, 0, 0, 0, 9, 36, 820, 174246}},
    {"job1", {0, 0, 2, 2, 2, 2, 2, 2, 692, 615772}},
    {"job2", {0, 0, 0, 3, 3, 5, 9, 69, 157, 81881}},
    {"job3", {0, 0, 2, 2, 2, 6, 6, 83, 461, 557884}},
    {"job4", {0, 0, 2, 2, 2, 2, 2, 63, 591, 817647}},
    {"alpha", {0, 0, 2, 2, 2, 2, 2, 75, 130, 163704}},
    {"beta", {0, 1, 1, 1, 1, 1, 1, 41, 496, 341235}},
    {"ca/santa-barbara", {0, 0, 2, 3, 4, 6, 6, 16, 293, 56999}},
    {"concurrent-job", {0, 1, 1, 1, 4, 4, 4, 54, 482, 424420}},
  };
  for (auto& r : rows)
    for (int i = 0; i < 10; ++i)
      BOOST_TEST(jump_hash(r.key, ns[i]) == r.expected[i],
                 "key=\"" << r.key << "\" n=" << ns[i]);
  BOOST_TEST(jump_hash("job1", 0) == -1);
  BOOST_TEST(jump_hash("job1", -3) == -1);
}

BOOST_AUTO_TEST_CASE(adding_a_bucket_moves_only_keys_to_it) {
  // The jump hash property the pool relies on for rebalancing.
  for (int n = 1; n < 20; ++n)
    for (int k = 0; k < 500; ++k) {
      auto key = "key-" + std::to_string(k);
      auto before = jump_hash(key, n);
      auto after = jump_hash(key, n + 1);
      BOOST_TEST((after == before || after == n));
    }
}

BOOST_AUTO_TEST_SUITE_END()

#include "pulse/actors/pool/routing.hpp"

BOOST_AUTO_TEST_SUITE(routing)

BOOST_AUTO_TEST_CASE(routing_order_is_creation_time_then_id) {
  using namespace pool_routing;
  std::vector<worker> l{{"w-new", 300}, {"w-tie-b", 200}, {"w-old", 100},
                        {"w-tie-a", 200}};
  sort_routing_order(l);
  std::vector<std::string> ids;
  for (auto& w : l)
    ids.push_back(w.id);
  BOOST_TEST(ids
             == (std::vector<std::string>{"w-old", "w-tie-a", "w-tie-b",
                                          "w-new"}));
}

BOOST_AUTO_TEST_CASE(owner_is_the_jump_hash_bucket) {
  using namespace pool_routing;
  std::vector<worker> l{{"A", 1}, {"B", 2}, {"C", 3}};
  // Reference vectors: job1 -> 2, job2 -> 0, beta -> 1 for n = 3.
  BOOST_TEST(owner(l, "job1")->id == "C");
  BOOST_TEST(owner(l, "job2")->id == "A");
  BOOST_TEST(owner(l, "beta")->id == "B");
  BOOST_TEST(!owner({}, "job1"));
  BOOST_TEST(!parse_i64(""));
  BOOST_TEST(!parse_i64(" 1"));
  BOOST_TEST(*parse_i64("-42") == -42);
}

BOOST_AUTO_TEST_CASE(job_records_parse_into_their_five_fields) {
  using namespace pool_routing;
  // As the dispatch script writes it, and with a dispatch that waits for
  // more than its start (`<id>.<keep_ms>`).
  auto e = parse_job_entry("w-1|7|p|node-a|42");
  BOOST_REQUIRE(e);
  BOOST_TEST(e->owner == "w-1");
  BOOST_TEST(e->epoch == "7");
  BOOST_TEST(e->state == "p");
  BOOST_TEST(e->node == "node-a");
  BOOST_TEST(e->dispatch_id == "42");
  e = parse_job_entry("w-2|8|r|node-b|43.60000");
  BOOST_REQUIRE(e);
  BOOST_TEST(e->state == "r");
  BOOST_TEST(e->dispatch_id == "43");
  // Written by someone else: fewer than five fields.
  BOOST_TEST(!parse_job_entry("w-1|7|p|node-a"));
  BOOST_TEST(!parse_job_entry(""));
  e = parse_job_entry("||||");
  BOOST_REQUIRE(e);
  BOOST_TEST(e->owner.empty());
  BOOST_TEST(e->dispatch_id.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(queue_entries)

BOOST_AUTO_TEST_CASE(entries_parse_as_the_scripts_write_them) {
  auto s = parse_queue_entry("S17 4 3 2 job1n-142{\"x\":1}");
  BOOST_TEST(s.kind == 'S');
  BOOST_TEST(s.epoch == 17u);
  BOOST_TEST(s.key == "job1");
  BOOST_TEST(s.node == "n-1");
  BOOST_TEST(s.dispatch_id == "42");
  BOOST_TEST(s.payload == "{\"x\":1}");
  auto n = parse_queue_entry("N3 4 job1ping");
  BOOST_TEST(n.kind == 'N');
  BOOST_TEST(n.key == "job1");
  BOOST_TEST(n.payload == "ping");
  auto t = parse_queue_entry("T18 job 1");
  BOOST_TEST(t.kind == 'T');
  BOOST_TEST(t.key == "job 1");
}

BOOST_AUTO_TEST_CASE(lengths_whose_sum_wraps_are_malformed) {
  // Found by tests/fuzz (pool_queue_entry): 2 + (2^63 - 1) + (2^63 - 1)
  // wraps to 0 and passed the check of the total, then substr threw
  // std::out_of_range in the worker.
  for (std::string bad :
       {"S1 2 9223372036854775807 9223372036854775807 abXY",
        "S1 3 9223372036854775807 9223372036854775807 abcXY",
        "S1 1 1 18446744073709551615 abc", "N1 9223372036854775807 k"}) {
    auto e = parse_queue_entry(bad);
    BOOST_TEST(e.kind == 0, "accepted: " << bad);
  }
  // 6 bytes announced, 1 left.
  BOOST_TEST(parse_queue_entry("S1 1 0 5 k").kind == 0);
  BOOST_TEST(parse_queue_entry("S1 1 0 0 k").kind == 'S');
}

BOOST_AUTO_TEST_SUITE_END()
