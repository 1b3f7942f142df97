// The replica's local store and its compact shard table (no server): every
// operation checked against an std::unordered_map oracle.

#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <unordered_map>

#include "pulse/actors/rmap/compact_table.hpp"
#include "pulse/actors/rmap/store.hpp"

using namespace pulse;
using pulse::rmap_detail::compact_table;

namespace {

using oracle = std::unordered_map<std::string, std::string>;

oracle content_of(const compact_table& t) {
  oracle r;
  t.for_each([&](std::string_view k, std::string_view v) {
    BOOST_TEST(r.emplace(std::string{k}, std::string{v}).second);
  });
  return r;
}

caf::optional<std::string> find(const compact_table& t, const std::string& k) {
  auto e = t.find(k, compact_table::hash(k));
  if (!e)
    return caf::none;
  return std::string{compact_table::value_of(e)};
}

bool put(compact_table& t, const std::string& k, const std::string& v,
         std::string* prev = nullptr) {
  return t.put(k, v, compact_table::hash(k), prev);
}

bool erase(compact_table& t, const std::string& k, std::string* prev = nullptr) {
  return t.erase(k, compact_table::hash(k), prev);
}

} // namespace

BOOST_AUTO_TEST_SUITE(compact_table_ops)

BOOST_AUTO_TEST_CASE(insert_overwrite_erase) {
  compact_table t;
  BOOST_TEST(!find(t, "a"));
  BOOST_TEST(t.allocated() == 0u);
  BOOST_TEST(!put(t, "a", "1"));
  BOOST_TEST(!put(t, "", "empty key"));
  BOOST_TEST(!put(t, "b", ""));
  BOOST_TEST(t.size() == 3u);
  BOOST_TEST(*find(t, "a") == "1");
  BOOST_TEST(*find(t, "") == "empty key");
  BOOST_TEST(find(t, "b")->empty()); // present with an empty value
  std::string prev;
  BOOST_TEST(put(t, "a", "2", &prev)); // same length: in place
  BOOST_TEST(prev == "1");
  BOOST_TEST(put(t, "a", "longer value", &prev));
  BOOST_TEST(prev == "2");
  BOOST_TEST(*find(t, "a") == "longer value");
  BOOST_TEST(t.size() == 3u);
  BOOST_TEST(erase(t, "a", &prev));
  BOOST_TEST(prev == "longer value");
  BOOST_TEST(!erase(t, "a"));
  BOOST_TEST(!find(t, "a"));
  BOOST_TEST(erase(t, ""));
  BOOST_TEST(erase(t, "b"));
  BOOST_TEST(t.size() == 0u);
  BOOST_TEST(t.allocated() == 0u); // the last erase frees everything
}

BOOST_AUTO_TEST_CASE(large_and_binary_values) {
  compact_table t;
  std::string big(100000, 'x');
  big[5] = '\0';
  std::string key{"k\0ey", 4};
  BOOST_TEST(!put(t, "small", "s"));
  BOOST_TEST(!put(t, key, big));
  BOOST_TEST(!put(t, "after", "a"));
  BOOST_TEST(*find(t, key) == big);
  BOOST_TEST(*find(t, "small") == "s");
  BOOST_TEST(*find(t, "after") == "a");
  // A 200-byte key needs two-byte varint lengths.
  std::string long_key(200, 'k');
  BOOST_TEST(!put(t, long_key, std::string(300, 'v')));
  BOOST_TEST(*find(t, long_key) == std::string(300, 'v'));
  BOOST_TEST(put(t, key, "now short"));
  BOOST_TEST(*find(t, key) == "now short");
  // The 100 kB of garbage outweighs the live bytes: compacted.
  BOOST_TEST(t.allocated() < 10000u);
  BOOST_TEST(*find(t, "small") == "s");
  BOOST_TEST(*find(t, long_key) == std::string(300, 'v'));
}

BOOST_AUTO_TEST_CASE(random_operations_match_an_oracle) {
  compact_table t;
  oracle o;
  std::mt19937 rng(42);
  for (int i = 0; i < 200000; ++i) {
    auto k = "key" + std::to_string(rng() % 5000);
    auto op = rng() % 10;
    std::string prev;
    if (op < 6) {
      auto v = std::string(rng() % 40, static_cast<char>('a' + rng() % 26));
      auto i_o = o.find(k);
      bool existed = put(t, k, v, &prev);
      BOOST_REQUIRE_EQUAL(existed, i_o != o.end());
      if (existed)
        BOOST_REQUIRE_EQUAL(prev, i_o->second);
      o[k] = v;
    } else if (op < 9) {
      auto i_o = o.find(k);
      bool existed = erase(t, k, &prev);
      BOOST_REQUIRE_EQUAL(existed, i_o != o.end());
      if (existed) {
        BOOST_REQUIRE_EQUAL(prev, i_o->second);
        o.erase(i_o);
      }
    } else {
      auto got = find(t, k);
      auto i_o = o.find(k);
      BOOST_REQUIRE_EQUAL(static_cast<bool>(got), i_o != o.end());
      if (got)
        BOOST_REQUIRE_EQUAL(*got, i_o->second);
    }
    BOOST_REQUIRE_EQUAL(t.size(), o.size());
  }
  BOOST_TEST((content_of(t) == o));
  // Garbage never grows past the live bytes for long: the arena stays
  // within a small multiple of the content.
  size_t live = 0;
  for (auto& kvp : o)
    live += kvp.first.size() + kvp.second.size() + 2;
  BOOST_TEST(t.allocated() < 3 * live + 9 * 2 * (o.size() * 5 / 4) + 200000);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(store)

BOOST_AUTO_TEST_CASE(put_get_erase_and_whole_reads) {
  rmap_store s;
  BOOST_TEST(!s.get("a"));
  BOOST_TEST(!s.put("a", "1"));
  BOOST_TEST(!s.put("b", "2"));
  BOOST_TEST(*s.put("a", "3") == "1");
  BOOST_TEST(s.size() == 2u);
  BOOST_TEST(*s.get("a") == "3");
  auto snap = s.snapshot();
  BOOST_TEST((snap == rmap_store::content{{"a", "3"}, {"b", "2"}}));
  auto keys = s.keys();
  std::sort(keys.begin(), keys.end());
  BOOST_TEST((keys == std::vector<std::string>{"a", "b"}));
  BOOST_TEST(*s.erase("a") == "3");
  BOOST_TEST(!s.erase("a"));
  BOOST_TEST(s.size() == 1u);
  s.replace(rmap_store::content{});
  BOOST_TEST(s.size() == 0u);
  BOOST_TEST(!s.get("b"));
  BOOST_TEST(s.allocated() == 0u);
}

BOOST_AUTO_TEST_CASE(image_replace_and_no_growth_across_resyncs) {
  rmap_store s;
  auto key = [](size_t i) { return "k" + std::to_string(1000000 + i); };
  auto fill = [&](size_t n, const std::string& suffix) {
    rmap_store::image img{n, n * 20};
    for (size_t i = 0; i < n; ++i)
      img.set(key(i), "value-" + std::to_string(i) + suffix);
    img.set(key(0), "overwritten"); // a later set wins, counted once
    BOOST_TEST(img.size() == n);
    BOOST_TEST(img.contains(key(n - 1)));
    BOOST_TEST(!img.contains("absent"));
    s.replace(std::move(img));
    BOOST_TEST(img.size() == 0u);
  };
  fill(100000, "");
  BOOST_TEST(s.size() == 100000u);
  BOOST_TEST(*s.get(key(0)) == "overwritten");
  BOOST_TEST(*s.get(key(99999)) == "value-99999");
  auto first = s.allocated();
  // About 25 bytes of arena per entry plus the index: well under 64.
  BOOST_TEST(first < 100000u * 64);
  for (int round = 0; round < 10; ++round)
    fill(100000, round % 2 == 0 ? "a" : "b");
  // Ten more snapshots of the same size: the same footprint.
  BOOST_TEST(s.allocated() <= first + first / 10);
  size_t n = 0;
  s.for_each([&](std::string_view k, std::string_view v) {
    ++n;
    if (k != key(0))
      BOOST_TEST(v.substr(0, 6) == "value-");
  });
  BOOST_TEST(n == 100000u);
  // Writes after a bulk load keep working (the index grows past the
  // reservation).
  for (size_t i = 100000; i < 150000; ++i)
    BOOST_TEST(!s.put(key(i), "x"));
  BOOST_TEST(s.size() == 150000u);
  BOOST_TEST(*s.get(key(149999)) == "x");
  BOOST_TEST(*s.get(key(5)) == "value-5b");
}

BOOST_AUTO_TEST_SUITE_END()
