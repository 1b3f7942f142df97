#pragma once

/// The fixtures of rmap_test (rmap_test.cpp, rmap_replica_test.cpp,
/// rmap_restart_test.cpp): replicated maps joined in this process, checked
/// against the Redis hash they replicate.

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include <caf/all.hpp>

#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"

namespace pulse::test {

/// A joined map.
using rmap_ptr = std::shared_ptr<rmap::map>;

/// Renders an optional value as `"value"` or `none` (for comparisons).
inline std::string opt(const caf::optional<std::string>& x) {
  return x ? "\"" + *x + "\"" : std::string{"none"};
}

/// An actor system and a Redis server, with helpers to join maps and
/// compare them with Redis.
struct rmap_fixture : actor_fixture {
  /// Starts the Redis server with options `o`.
  explicit rmap_fixture(server_options o = {}) : actor_fixture(std::move(o)) {
    // nop
  }

  /// Joins map `name` with options `o`.
  rmap_ptr join(const std::string& name, rmap::options o = {}) {
    auto m = rmap::map::join(*rt, name, o);
    BOOST_REQUIRE_MESSAGE(m, describe(m));
    return *m;
  }

  /// Whether the replica's content equals the Redis hash minus reserved
  /// fields, at the same revision.
  bool converged(const rmap_ptr& m) {
    auto key = "map:" + m->name() + ":content";
    // Read in HSCAN pages, not one HGETALL: a 200k-entry hash under TSan
    // outlasts the test client's 2 s command timeout every time.
    resp::value all;
    std::string cursor = "0";
    do {
      auto page = redis()("HSCAN", key, cursor, "COUNT", "10000");
      for (int i = 0; i < 3 && !page; ++i) // a slow page: try it again
        page = redis()("HSCAN", key, cursor, "COUNT", "10000");
      if (!page || page->elements.size() != 2) {
        BOOST_TEST_MESSAGE("converged: HSCAN failed: "
                           << (page ? page->render() : render(page.error())));
        return false;
      }
      cursor = page->elements[0].str;
      for (auto& x : page->elements[1].elements)
        all.elements.push_back(std::move(x));
    } while (cursor != "0");
    auto* h = &all;
    rmap_store::content expected;
    uint64_t rev = 0;
    for (size_t i = 0; i + 1 < h->elements.size(); i += 2) {
      auto& k = h->elements[i].str;
      if (k == "=rev")
        rev = static_cast<uint64_t>(*h->elements[i + 1].as_integer());
      else if (k != "=kind")
        expected[k] = h->elements[i + 1].str;
    }
    return m->snapshot() == expected && m->rev() == rev;
  }

  /// The counters of the replica of `m`.
  replica_stats stats(const rmap_ptr& m) {
    replica_stats r;
    (*self)->request(m->replica(), 5s, stats_atom::value)
      .receive([&](replica_stats& x) { r = x; },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
    return r;
  }
};

/// Server options with AOF on, so a restarted Redis keeps its data.
inline server_options with_aof() {
  server_options o;
  o.aof = true;
  return o;
}

/// `rmap_fixture` on a Redis server with AOF on.
struct aof_rmap_fixture : rmap_fixture {
  aof_rmap_fixture() : rmap_fixture(with_aof()) {
    // nop
  }
};

} // namespace pulse::test
