// Payload limits and errors by kind: oversized requests fail before any
// I/O with pulse.too_large, the largest accepted payloads succeed through
// every package, and keys of another type fail reader spawns and map joins
// at once.

#include <boost/test/unit_test.hpp>

#include <chrono>

#include <caf/all.hpp>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/reader.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/pool/recorder.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/runtime_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

constexpr size_t limit = 32 * 1024 * 1024; // the default max-payload

// Just below the limit, leaving room for keys and the other arguments.
std::string largest_payload() {
  return std::string(limit - 4096, 'x');
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(limits, actor_fixture)

BOOST_AUTO_TEST_CASE(default_limit_is_documented_value) {
  BOOST_TEST(redis_options{}.max_payload == limit);
}

BOOST_AUTO_TEST_CASE(oversized_requests_fail_before_sending) {
  auto big = std::string(limit + 1, 'x');
  auto r = redis()("SET", "big", big);
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::too_large);
  BOOST_TEST(render(r.error()).find("max-payload") != std::string::npos);
  BOOST_TEST(redis()("EXISTS", "big")->integer == 0);
  // The same through a pool dispatch and a stream add.
  auto node = pool_node::add_node(*rt, "big", pool_options{});
  BOOST_REQUIRE(node);
  auto err = (*node)->dispatch("k", big);
  BOOST_TEST(code_of(err) == errc::too_large, render(err));
  auto s = stream::make("big");
  auto id = s->add(redis(), "ev", big);
  BOOST_REQUIRE(!id);
  BOOST_TEST(code_of(id.error()) == errc::too_large);
  (*node)->close();
}

/// A runtime whose command timeout fits 32 MiB round trips on a loaded
/// (or sanitized) machine: the 2 s of the test fixture did not always.
struct large_payload_runtime : configured_runtime {
  large_payload_runtime()
    : configured_runtime([](options& o) {
        o.redis.command_timeout = std::chrono::seconds{20};
      }) {
    // nop
  }
};

BOOST_FIXTURE_TEST_CASE(largest_accepted_payloads_succeed,
                        large_payload_runtime) {
  auto payload = largest_payload();
  // Stream add.
  auto s = stream::make("large");
  auto id = s->add(*redis, "ev", payload);
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  // Replicated map write and its propagation to the local copy.
  auto m = rmap::map::join(*rt, "large");
  BOOST_REQUIRE(m);
  auto set = (*m)->set_and_wait("k", payload);
  BOOST_REQUIRE_MESSAGE(set, describe(set));
  BOOST_TEST((*m)->get("k")->size() == payload.size());
  // Pool dispatch to a worker.
  auto log = std::make_shared<journal>();
  auto node = pool_node::add_node(*rt, "large", pool_options{});
  BOOST_REQUIRE(node);
  BOOST_REQUIRE((*node)->add_worker(std::make_shared<recorder>(log)));
  auto err = (*node)->dispatch("job", payload);
  BOOST_TEST(!err, render(err));
  BOOST_TEST(log->count('s', "job") == 1u);
  (*node)->close();
}

BOOST_AUTO_TEST_CASE(reader_on_a_key_of_another_type_fails_at_spawn) {
  BOOST_REQUIRE(redis()("SET", "pulse:stream:not-a-stream", "x"));
  auto r = spawn_reader(*rt, {"not-a-stream"});
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::redis_error);
  BOOST_TEST(render(r.error()).find("WRONGTYPE") != std::string::npos,
             render(r.error()));
  BOOST_TEST(is_permanent(r.error()));
}

BOOST_AUTO_TEST_CASE(map_join_on_a_key_of_another_type_fails_at_once) {
  BOOST_REQUIRE(redis()("SET", "map:not-a-map:content", "x"));
  map_options o;
  o.join_timeout = 10s;
  auto t0 = std::chrono::steady_clock::now();
  auto m = rmap::map::join(*rt, "not-a-map", o);
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_REQUIRE(!m);
  BOOST_TEST(render(m.error()).find("WRONGTYPE") != std::string::npos,
             render(m.error()));
  BOOST_TEST((took < 2s)); // not the 10 s join timeout
}

BOOST_AUTO_TEST_SUITE_END()
