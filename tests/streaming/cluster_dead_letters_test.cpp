// Dead-letter redrive in Redis Cluster mode (3 masters + 3 replicas,
// tests/support/cluster_fixture.hpp): source and dead-letter streams on
// different masters, so the single-node script (keys built in Lua) is
// refused and `redrive_mode::per_entry` moves the entries (XRANGE, XADD to
// the source, then XDEL): all, by ID, by age, a missing ID, an entry
// without a valid source stream, more than one batch, and a sink's redrive
// by message through a runtime in cluster mode.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

// A runtime in cluster mode on the fixture's cluster, and stream names
// whose keys live on three different masters: `dlq` (the dead-letter
// stream `src_a:dead-letter`), `src_a` and `src_b`.
struct dl_cluster : cluster_fixture {
  dl_cluster() {
    // src_a and its default dead-letter stream on different masters, then
    // src_b on the third.
    for (int n = 0; src_a.empty(); ++n) {
      auto a = "dl-src-a" + std::to_string(n);
      if (owner_of(a) != owner_of(a + ":dead-letter"))
        src_a = a;
    }
    dlq = src_a + ":dead-letter";
    for (int n = 0; src_b.empty(); ++n) {
      auto b = "dl-src-b" + std::to_string(n);
      if (owner_of(b) != owner_of(src_a) && owner_of(b) != owner_of(dlq))
        src_b = b;
    }
  }
  // The port of the master owning stream `name`'s key (asked from the
  // cluster).
  uint16_t owner_of(const std::string& name) const {
    return owner_port(cluster::key_slot(dead_letters::key(name)),
                      master_port(0));
  }

  // Dead-letters event `n`/`p`/`t` of stream `source` the way a sink does
  // (`detail::dead_letter_command`); returns its dead-letter ID.
  std::string dead_letter(const std::string& source, const std::string& n,
                          const std::string& p, const std::string& t = "") {
    resp::value entry;
    entry.type = resp::kind::array;
    entry.elements.resize(2);
    entry.elements[0] = resp::value::make_bulk("1-" + p);
    auto& f = entry.elements[1];
    f.type = resp::kind::array;
    for (auto& x : {std::string{"n"}, n, std::string{"p"}, p})
      f.elements.push_back(resp::value::make_bulk(x));
    if (!t.empty())
      for (auto& x : {std::string{"t"}, t})
        f.elements.push_back(resp::value::make_bulk(x));
    auto cmd = detail::dead_letter_command(entry, dead_letters::key(dlq),
                                           source, "billing", 3, "boom");
    auto id = redis->call(cmd);
    BOOST_REQUIRE_MESSAGE(id, describe(id));
    return id->str;
  }

  // Stream `name`'s entries as "n/p/t" strings.
  std::vector<std::string> entries(const std::string& name) {
    std::vector<std::string> out;
    auto r = (*redis)("XRANGE", dead_letters::key(name), "-", "+");
    BOOST_REQUIRE_MESSAGE(r && r->is_array(), describe(r));
    for (auto& e : r->elements) {
      std::string n, p, t;
      auto& f = e.elements[1].elements;
      for (size_t i = 0; i + 1 < f.size(); i += 2)
        if (f[i].str == "n" || f[i].str == "p" || f[i].str == "t")
          (f[i].str == "n" ? n : f[i].str == "p" ? p : t) = f[i + 1].str;
      out.push_back(n + "/" + p + "/" + t);
    }
    return out;
  }

  int64_t len(const std::string& name) {
    auto r = (*redis)("XLEN", dead_letters::key(name));
    BOOST_REQUIRE_MESSAGE(r, describe(r));
    return r->integer;
  }

  caf::expected<redrive_result> redrive(const dead_letter_selection& which) {
    return dead_letters::redrive(*redis, dlq, which, 1000,
                                 dead_letters::redrive_mode::per_entry);
  }

  /// A runtime in cluster mode on this cluster (tests/support).
  cluster_runtime crt{redis_opts()};
  std::optional<caf::actor_system>& sys = crt.sys;
  std::unique_ptr<pulse::runtime>& rt = crt.rt;
  std::optional<client>& redis = crt.redis;
  std::string src_a;
  std::string src_b;
  std::string dlq;
};

namespace {

using strings = std::vector<std::string>;

} // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_dead_letters, dl_cluster)

BOOST_AUTO_TEST_CASE(redrive_moves_entries_between_masters) {
  BOOST_REQUIRE(owner_of(src_a) != owner_of(dlq));
  BOOST_REQUIRE(owner_of(src_b) != owner_of(dlq));
  BOOST_REQUIRE(owner_of(src_b) != owner_of(src_a));
  BOOST_TEST((dead_letters::redrive_mode_for(redis_opts())
              == dead_letters::redrive_mode::per_entry));
  BOOST_TEST((dead_letters::redrive_mode_for(test_redis_options(1))
              == dead_letters::redrive_mode::script));
  auto a1 = dead_letter(src_a, "created", "a1", "eu");
  dead_letter(src_a, "created", "a2");
  dead_letter(src_b, "refund", "b1", "us");
  dead_letter(src_b, "refund", "b2");
  // Written by another client: its source is no valid stream name.
  auto bad = (*redis)("XADD", dead_letters::key(dlq), "*", "n", "x", "p",
                      "y", "stream", "no such stream");
  BOOST_REQUIRE_MESSAGE(bad, describe(bad));
  // The single-node script builds the source keys in Lua: Redis refuses
  // each XADD ("non local key"), so every entry stays in place.
  auto refused = dead_letters::redrive(*redis, dlq,
                                       dead_letter_selection::all(), 1000,
                                       dead_letters::redrive_mode::script);
  BOOST_REQUIRE_MESSAGE(refused, describe(refused));
  BOOST_TEST(refused->moved == 0u);
  BOOST_TEST(refused->skipped == 5u);
  BOOST_TEST(len(dlq) == 5);
  BOOST_TEST(len(src_a) == 0);
  // By ID: one moves; a missing, an invalid and a repeated ID do not.
  auto r = redrive(dead_letter_selection::by_ids({a1, "1-1", "bogus", a1}));
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1u);
  BOOST_TEST(r->missing == 3u);
  BOOST_TEST(r->skipped == 0u);
  BOOST_TEST(entries(src_a) == (strings{"created/a1/eu"}));
  BOOST_TEST(len(dlq) == 4);
  // A missing ID alone moves nothing.
  r = redrive(dead_letter_selection::by_ids({a1}));
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 0u);
  BOOST_TEST(r->missing == 1u);
  BOOST_TEST(len(dlq) == 4);
  BOOST_TEST(len(src_a) == 1);
  BOOST_TEST(len(src_b) == 0);
  // All: the other three, to both masters; the bad entry stays.
  r = redrive(dead_letter_selection::all());
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 3u);
  BOOST_TEST(r->missing == 0u);
  BOOST_TEST(r->skipped == 1u);
  BOOST_TEST(entries(src_a) == (strings{"created/a1/eu", "created/a2/"}));
  BOOST_TEST(entries(src_b) == (strings{"refund/b1/us", "refund/b2/"}));
  BOOST_TEST(entries(dlq) == (strings{"x/y/"}));
}

BOOST_AUTO_TEST_CASE(redrive_by_age_moves_only_older_entries) {
  // Two entries dead-lettered an hour ago (explicit IDs), two just now.
  auto t = (*redis)("TIME");
  BOOST_REQUIRE_MESSAGE(t, describe(t));
  auto hour_ago = std::stoll(t->elements[0].str) * 1000 - 3600 * 1000;
  for (int i = 0; i < 2; ++i) {
    auto id = std::to_string(hour_ago + i) + "-0";
    auto r = (*redis)("XADD", dead_letters::key(dlq), id, "n", "old", "p",
                      std::to_string(i), "stream", src_b);
    BOOST_REQUIRE_MESSAGE(r, describe(r));
  }
  dead_letter(src_a, "new", "0");
  dead_letter(src_a, "new", "1");
  auto r = redrive(dead_letter_selection::older_than(10min));
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 2u);
  BOOST_TEST(entries(src_b) == (strings{"old/0/", "old/1/"}));
  BOOST_TEST(len(src_a) == 0);
  BOOST_TEST(len(dlq) == 2);
  // Nothing else is that old.
  r = redrive(dead_letter_selection::older_than(10min));
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 0u);
  BOOST_TEST(len(dlq) == 2);
}

BOOST_AUTO_TEST_CASE(redrive_all_goes_past_one_batch) {
  // 1,201 entries: three range batches of up to 500.
  std::vector<command> cmds;
  for (int i = 0; i < 1201; ++i)
    cmds.push_back(make_command("XADD", dead_letters::key(dlq), "*", "n", "e",
                                "p", std::to_string(i), "stream",
                                i % 2 == 0 ? src_a : src_b));
  auto added = redis->batch(std::move(cmds));
  BOOST_REQUIRE_MESSAGE(added, describe(added));
  auto r = redrive(dead_letter_selection::all());
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1201u);
  BOOST_TEST(len(dlq) == 0);
  BOOST_TEST(len(src_a) == 601);
  BOOST_TEST(len(src_b) == 600);
  auto a = entries(src_a);
  BOOST_TEST(a.front() == "e/0/");
  BOOST_TEST(a.back() == "e/1200/");
}

BOOST_AUTO_TEST_CASE(a_sink_redrives_by_message_in_cluster_mode) {
  sink_options so;
  so.start = "$";
  auto sink = spawn_sink(*rt, "billing", {src_a}, so);
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  auto first = dead_letter(src_a, "created", "s1");
  dead_letter(src_a, "created", "s2");
  caf::scoped_actor self{*sys};
  auto ask = [&](dead_letter_selection which) {
    caf::expected<redrive_result> out{redrive_result{}};
    self->request(*sink, 10s, dl_redrive_atom::value, src_a, which,
                  uint64_t{0})
      .receive([&](redrive_result& x) { out = x; },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  };
  auto r = ask(dead_letter_selection::by_ids({first, "9-9"}));
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1u);
  BOOST_TEST(r->missing == 1u);
  r = ask(dead_letter_selection::all());
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(r->moved == 1u);
  BOOST_TEST(len(dlq) == 0);
  BOOST_TEST(entries(src_a) == (strings{"created/s1/", "created/s2/"}));
  self->send_exit(*sink, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
