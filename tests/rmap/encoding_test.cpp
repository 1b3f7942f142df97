// Replicated-map wire encodings, byte by byte (no server).

#include <boost/test/unit_test.hpp>

#include "pulse/actors/rmap/encoding.hpp"
#include "tests/support/rmap_oracle.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using pulse::test::encode_list;
using pulse::test::encode_notification;

namespace {

std::string bytes(std::initializer_list<int> xs) {
  std::string s;
  for (auto x : xs)
    s.push_back(static_cast<char>(x));
  return s;
}

std::string u32(uint32_t n) {
  return bytes({static_cast<int>(n & 0xFF), static_cast<int>((n >> 8) & 0xFF),
                static_cast<int>((n >> 16) & 0xFF),
                static_cast<int>(n >> 24)});
}

} // namespace

BOOST_AUTO_TEST_SUITE(notifications)

BOOST_AUTO_TEST_CASE(golden_set_and_del) {
  // Row 1: Set("k","v/1") at rev 1.
  map_notification n{map_notification::op::set, "k", "v/1", 1};
  auto golden = "set:" + u32(1) + "k" + u32(3) + "v/1" + u32(1) + "1";
  BOOST_TEST(encode_notification(n) == golden);
  auto d = decode_notification(golden);
  BOOST_REQUIRE(d);
  BOOST_TEST(d->key == "k");
  BOOST_TEST(d->value == "v/1");
  BOOST_TEST(d->rev == 1u);
  // Row 7: Delete("k") at rev 7.
  auto del = "del:" + u32(1) + "k" + u32(1) + "7";
  BOOST_TEST(encode_notification({map_notification::op::del, "k", "", 7})
             == del);
  BOOST_TEST((decode_notification(del)->kind == map_notification::op::del));
  // Row 11: empty value, rev 11.
  auto empty = "set:" + u32(1) + "n" + u32(0) + u32(2) + "11";
  BOOST_TEST(encode_notification({map_notification::op::set, "n", "", 11})
             == empty);
  BOOST_TEST(decode_notification(empty)->value.empty());
}

BOOST_AUTO_TEST_CASE(golden_reset_and_destroy) {
  BOOST_TEST(encode_notification({map_notification::op::reset, "", "", 8})
             == "reset:8");
  BOOST_TEST(encode_notification({map_notification::op::destroy, "", "", 9})
             == "destroy:9");
  BOOST_TEST(decode_notification("destroy:9")->rev == 9u);
  BOOST_TEST((decode_notification("reset:12")->kind
              == map_notification::op::reset));
}

BOOST_AUTO_TEST_CASE(malformed_messages_are_rejected) {
  for (std::string bad :
       {std::string{"nocolon"}, std::string{"zap:1"}, std::string{"reset:"},
        std::string{"reset:x1"}, std::string{"destroy:-1"},
        "set:" + u32(5) + "k", "set:" + u32(1) + "k" + u32(3) + "v",
        "set:" + u32(1) + "k" + u32(1) + "v" + u32(1) + "x",
        "del:" + u32(1) + "k"}) {
    auto d = decode_notification(bad);
    BOOST_TEST(!d, "accepted: " << bad);
    if (!d)
      BOOST_TEST(code_of(d.error()) == errc::protocol_error);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(list_values)

BOOST_AUTO_TEST_CASE(encodes_like_lua_cjson) {
  // Golden rows 2, 3 and 13.
  BOOST_TEST(encode_list({"a/b"}) == R"(["a\/b"])");
  BOOST_TEST(encode_list({"a/b", "c"}) == R"(["a\/b","c"])");
  BOOST_TEST(encode_list({"\xc3\xa9", "a\"b"}) == "[\"\xc3\xa9\",\"a\\\"b\"]");
  BOOST_TEST(encode_list({"x", "y", "z"}) == R"(["x","y","z"])");
  BOOST_TEST(encode_list({"tab\tnl\n"}) == R"(["tab\tnl\n"])");
}

BOOST_AUTO_TEST_CASE(decodes_json_and_legacy_csv) {
  auto v = decode_list(R"(["a\/b","c","\u00e9"])");
  BOOST_REQUIRE_EQUAL(v.size(), 3u);
  BOOST_TEST(v[0] == "a/b");
  BOOST_TEST(v[2] == "\xc3\xa9");
  BOOST_TEST(decode_list("[]").empty());
  // Legacy comma-separated values keep empty pieces (as Go reads them).
  auto csv = decode_list("x,,y");
  BOOST_REQUIRE_EQUAL(csv.size(), 3u);
  BOOST_TEST(csv[1].empty());
  BOOST_TEST(decode_list("single").size() == 1u);
  // Not quite JSON: falls back to CSV.
  BOOST_TEST(decode_list("[\"a\",").size() == 2u);
  // Round trip.
  std::vector<std::string> xs{"", "\"", "\\", "/", "é", "a,b"};
  BOOST_TEST(decode_list(encode_list(xs)) == xs);
}

BOOST_AUTO_TEST_SUITE_END()
