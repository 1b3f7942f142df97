// Jump hash over CRC-64/XZ and pool record encodings, against the Go Pulse
// v1.6.5 reference vectors and golden bytes (no server).

#include <boost/test/unit_test.hpp>

#include <cstdio>

#include "runtime/errors.hpp"
#include "runtime/jump_hash.hpp"
#include "runtime/pool_codec.hpp"
#include "tests/support/print.hpp"

using namespace pulse;

namespace {

std::string hex(const std::string& s) {
  std::string out;
  char buf[3];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof(buf), "%02x", c);
    out += buf;
  }
  return out;
}

} // namespace

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

BOOST_AUTO_TEST_SUITE(pool_records)

BOOST_AUTO_TEST_CASE(golden_encodings) {
  using namespace pool_codec;
  BOOST_TEST(hex(encode(job{"job1", "N1", "hi", 1700000000123456789, true}))
             == "040000006a6f623102000000"
                "4e3102000000686915cd853dfe9c971701");
  BOOST_TEST(hex(encode(job{"k", "N", "", 0, false}))
             == "010000006b010000004e00000000000000000000000000");
  BOOST_TEST(hex(encode_job_key("job1")) == "040000006a6f6231");
  BOOST_TEST(hex(encode(notification{"job1", "ping"}))
             == "040000006a6f62310400000070696e67");
  BOOST_TEST(hex(encode(envelope{"W", "xy"})) == "0100000057020000007879");
  BOOST_TEST(hex(encode(ack{"1-0", ""})) == "03000000312d3000000000");
  BOOST_TEST(hex(encode(ack{"1700000000000-0", "boom"}))
             == "0f000000313730303030303030303030302d3004000000626f6f6d");
  BOOST_TEST(hex(encode(envelope{"W", encode(ack{"1-0", ""})}))
             == "01000000570b00000003000000312d3000000000");
}

BOOST_AUTO_TEST_CASE(round_trips_and_truncation) {
  using namespace pool_codec;
  job j{"key", "node", std::string{"\0payload", 8}, -5, true};
  auto d = decode_job(encode(j));
  BOOST_REQUIRE(d);
  BOOST_TEST(d->key == "key");
  BOOST_TEST(d->node_id == "node");
  BOOST_TEST(d->payload == j.payload);
  BOOST_TEST(d->created_at == -5);
  BOOST_TEST(d->requeued);
  // Any non-zero requeued byte means true; trailing bytes are ignored.
  auto bytes = encode(job{"k", "n", "", 1, false});
  bytes.back() = 7;
  BOOST_TEST(decode_job(bytes + "trailing")->requeued);
  BOOST_TEST(*decode_job_key(encode_job_key("")) == "");
  // Every truncation is an error, never a crash.
  auto full = encode(j);
  for (size_t n = 0; n < full.size(); ++n) {
    auto t = decode_job(full.substr(0, n));
    BOOST_TEST(!t, "accepted " << n << " bytes");
    if (!t)
      BOOST_TEST(code_of(t.error()) == errc::protocol_error);
  }
  BOOST_TEST(!decode_envelope("\x05\x00\x00\x00ab"));
  BOOST_TEST(!decode_ack(std::string("\xff\xff\xff\xff", 4)));
  BOOST_TEST(decode_notification(encode(notification{"k", "p"}))->payload
             == "p");
}

BOOST_AUTO_TEST_SUITE_END()

#include "runtime/pool_routing.hpp"

BOOST_AUTO_TEST_SUITE(routing)

BOOST_AUTO_TEST_CASE(active_workers_follow_the_reference_rules) {
  using namespace pool_routing;
  const int64_t now = 10'000'000'000;
  const int64_t ttl = 1'000'000'000;
  std::map<std::string, std::string> workers{
    {"w-old", "100"},         // oldest
    {"w-new", "300"},
    {"w-tie-b", "200"},       // same creation time: ordered by ID
    {"w-tie-a", "200"},
    {"w-removing", "-"},      // being removed
    {"w-garbage", "12x"},     // unparseable creation time
    {"w-locked", "50"},       // fresh cleanup lock
    {"w-stale-lock", "60"},   // stale cleanup lock: still active
    {"w-bad-lock", "70"},     // unparseable lock: excludes nothing
    {"w-dead", "80"},         // keep-alive too old
    {"w-silent", "90"},       // no keep-alive at all
  };
  std::map<std::string, std::string> alive;
  for (auto& [id, v] : workers)
    alive[id] = std::to_string(now - 1000);
  alive["w-dead"] = std::to_string(now - ttl - 1);
  alive.erase("w-silent");
  std::map<std::string, std::string> cleanup{
    {"w-locked", std::to_string(now - 10)},
    {"w-stale-lock", std::to_string(now - ttl - 1)},
    {"w-bad-lock", "not-a-number"},
  };
  auto l = active_workers(workers, alive, cleanup, now, ttl);
  std::vector<std::string> ids;
  for (auto& w : l)
    ids.push_back(w.id);
  BOOST_TEST(ids
             == (std::vector<std::string>{"w-stale-lock", "w-bad-lock",
                                          "w-old", "w-tie-a", "w-tie-b",
                                          "w-new"}));
  // Keep-alive exactly ttl old is still alive.
  alive["w-new"] = std::to_string(now - ttl);
  BOOST_TEST(active_workers(workers, alive, cleanup, now, ttl).size() == 6u);
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

BOOST_AUTO_TEST_SUITE_END()
