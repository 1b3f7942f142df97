// Replicated maps against a real Redis: joining and resyncing a large map
// (200,000 entries), every entry checked.

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <caf/all.hpp>

#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/rmap/rmap_fixture.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

std::string key_of(size_t i) {
  return "k" + std::to_string(100000000 + i); // 10 bytes
}

std::string value_of(size_t i, const std::string& round) {
  return round + "-" + std::to_string(1000000000 + i);
}

// Writes entries [first, last) of `round` into `hash`, 1,000 per HSET,
// 20 HSETs per batch (one batch of them all outlasted the gateway's 2 s
// command timeout under TSan).
void fill(client& c, const std::string& hash, size_t first, size_t last,
          const std::string& round) {
  std::vector<command> cmds;
  auto send = [&] {
    auto r = c.batch(std::move(cmds));
    cmds.clear();
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    for (auto& x : *r)
      BOOST_REQUIRE(!x.is_error());
  };
  for (size_t b = first; b < last; b += 1000) {
    command cmd = make_command("HSET", hash);
    for (size_t i = b; i < std::min(last, b + 1000); ++i) {
      cmd.args.push_back(key_of(i));
      cmd.args.push_back(value_of(i, round));
    }
    cmds.push_back(std::move(cmd));
    if (cmds.size() == 20)
      send();
  }
  if (!cmds.empty())
    send();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(rmap_join, rmap_fixture)

BOOST_AUTO_TEST_CASE(join_and_resync_of_200k_entries_keep_every_entry) {
  constexpr size_t n = 200000;
  const std::string hash = "map:big:content";
  fill(redis(), hash, 0, n, "a");
  BOOST_REQUIRE(redis()("HSET", hash, "=rev", "7"));
  rmap::options o;
  o.join_timeout = 60s;
  auto m = join("big", o);
  BOOST_REQUIRE_EQUAL(m->len(), n);
  BOOST_TEST(m->rev() == 7u);
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i)
    if (m->get(key_of(i)) != caf::optional<std::string>{value_of(i, "a")})
      ++bad;
  BOOST_TEST(bad == 0u);
  BOOST_TEST(!m->get("=rev")); // reserved fields stay out
  BOOST_TEST(converged(m));
  auto footprint = m->store().allocated();
  BOOST_TEST(footprint < n * 64); // compact: about 45 bytes per entry
  // Change the hash behind the replica's back (half rewritten, a tenth
  // deleted, new entries), then resync twice: every entry matches, and the
  // footprint does not grow with resyncs.
  fill(redis(), hash, 0, n / 2, "b");
  fill(redis(), hash, n, n + 10000, "c");
  std::vector<command> dels;
  for (size_t i = n / 2; i < n / 2 + n / 10; ++i)
    dels.push_back(make_command("HDEL", hash, key_of(i)));
  BOOST_REQUIRE(redis().batch(std::move(dels)));
  BOOST_REQUIRE(redis()("HSET", hash, "=rev", "9"));
  for (int round = 0; round < 2; ++round) {
    uint64_t rev = 0;
    (*self)
      ->request(m->replica(), 60s, resync_atom::value)
      .receive([&](uint64_t r) { rev = r; },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
    BOOST_TEST(rev == 9u);
  }
  BOOST_REQUIRE_EQUAL(m->len(), n - n / 10 + 10000);
  bad = 0;
  for (size_t i = 0; i < n + 10000; ++i) {
    caf::optional<std::string> want;
    if (i < n / 2)
      want = value_of(i, "b");
    else if (i < n / 2 + n / 10)
      want = caf::none;
    else if (i < n)
      want = value_of(i, "a");
    else
      want = value_of(i, "c");
    if (m->get(key_of(i)) != want)
      ++bad;
  }
  BOOST_TEST(bad == 0u);
  BOOST_TEST(converged(m));
  BOOST_TEST(m->store().allocated() < footprint + footprint / 5);
}

BOOST_AUTO_TEST_SUITE_END()
