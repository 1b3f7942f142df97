// Unit tests of the protocol codec, SHA-1, back-off and error rendering.
// No server needed.

#include <boost/test/unit_test.hpp>

#include <caf/sec.hpp>

#include "pulse/actors/redis/backoff.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/redis/resp.hpp"
#include "pulse/messages/script.hpp"
#include "pulse/actors/redis/sha1.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(resp_codec)

BOOST_AUTO_TEST_CASE(encode_is_multibulk_and_binary_safe) {
  auto bytes = resp::encode({"SET", "k", std::string{"a\0\r\nb", 5}});
  BOOST_TEST(bytes
             == std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n",
                            31));
  BOOST_TEST(resp::encode({}) == "*0\r\n");
  BOOST_TEST(resp::encode({""}) == "*1\r\n$0\r\n\r\n");
}

BOOST_AUTO_TEST_CASE(decode_every_kind) {
  BOOST_TEST(resp::decode_one("+OK\r\n")->type == resp::kind::status);
  BOOST_TEST(resp::decode_one("+OK\r\n")->str == "OK");
  auto err = resp::decode_one("-ERR boom\r\n");
  BOOST_TEST(err->is_error());
  BOOST_TEST(err->str == "ERR boom");
  BOOST_TEST(resp::decode_one(":-42\r\n")->integer == -42);
  BOOST_TEST(resp::decode_one("$-1\r\n")->is_nil());
  BOOST_TEST(resp::decode_one("*-1\r\n")->is_nil());
  auto bulk = resp::decode_one(std::string("$4\r\na\0\nb\r\n", 10));
  BOOST_TEST(bulk->type == resp::kind::bulk);
  BOOST_TEST(bulk->str == std::string("a\0\nb", 4));
  auto arr = resp::decode_one("*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n");
  BOOST_REQUIRE(arr);
  BOOST_TEST(arr->render() == "[(integer) 1, [\"x\"], (nil)]");
}

BOOST_AUTO_TEST_CASE(decoder_handles_fragmented_input) {
  resp::decoder dec;
  std::string input = "*2\r\n$5\r\nhello\r\n:7\r\n+PONG\r\n";
  std::vector<resp::value> got;
  resp::value v;
  // One byte at a time: replies complete only when their last byte arrives.
  for (char c : input) {
    BOOST_REQUIRE(!dec.feed(&c, 1));
    for (;;) {
      auto r = dec.next(v);
      BOOST_REQUIRE(r);
      if (!*r)
        break;
      got.push_back(v);
    }
  }
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_TEST(got[0].render() == "[\"hello\", (integer) 7]");
  BOOST_TEST(got[1].str == "PONG");
}

BOOST_AUTO_TEST_CASE(decoder_rejects_garbage) {
  resp::decoder dec;
  BOOST_REQUIRE(!dec.feed("?what\r\n", 7));
  resp::value v;
  auto r = dec.next(v);
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::protocol_error);
  auto one = resp::decode_one("$5\r\nab");
  BOOST_REQUIRE(!one);
  BOOST_TEST(code_of(one.error()) == errc::protocol_error);
}

BOOST_AUTO_TEST_CASE(value_accessors) {
  BOOST_TEST(*resp::value::make_bulk("12").as_integer() == 12);
  BOOST_TEST(!resp::value::make_bulk("12x").as_integer());
  BOOST_TEST(!resp::value::make_bulk("").as_integer());
  BOOST_TEST(*resp::value::make_integer(5).as_integer() == 5);
  BOOST_TEST(!resp::value::make_integer(5).as_string());
  BOOST_TEST(*resp::value::make_status("OK").as_string() == "OK");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sha1)

BOOST_AUTO_TEST_CASE(known_vectors) {
  BOOST_TEST(sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  BOOST_TEST(sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  BOOST_TEST(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
             == "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  BOOST_TEST(sha1_hex(std::string(1000000, 'a'))
             == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  // 55, 56 and 64 bytes: the padding boundaries.
  BOOST_TEST(sha1_hex(std::string(55, 'a'))
             == "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  BOOST_TEST(sha1_hex(std::string(56, 'a'))
             == "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  BOOST_TEST(sha1_hex(std::string(64, 'a'))
             == "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}

BOOST_AUTO_TEST_CASE(script_sha_matches_redis) {
  // Redis: SCRIPT LOAD "return 1" -> e0e1f9fabfc9d4800c877a703b823ac0578ff8db
  BOOST_TEST(script{"return 1"}.sha1
             == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(backoff_policy)

BOOST_AUTO_TEST_CASE(doubles_with_jitter_up_to_the_cap) {
  backoff b{100ms, 1s, 42};
  std::vector<std::chrono::nanoseconds> caps{100ms, 200ms, 400ms, 800ms, 1s,
                                             1s};
  for (auto cap : caps) {
    auto d = b.next();
    BOOST_TEST(d.count() >= cap.count() / 2);
    BOOST_TEST(d.count() <= cap.count());
  }
  BOOST_TEST(b.attempts() == 6u);
  b.reset();
  auto d = b.next();
  BOOST_TEST(d.count() <= std::chrono::nanoseconds{100ms}.count());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(render_names_code_and_context) {
  auto err = make_error(errc::timeout, "GET: no reply within 5ms");
  BOOST_TEST(render(err) == "pulse.timeout: GET: no reply within 5ms");
  BOOST_TEST(code_of(err) == errc::timeout);
  BOOST_TEST(render(make_error(errc::closed)) == "pulse.closed");
  BOOST_TEST(code_of(caf::error{}) == errc::none);
  BOOST_TEST(render(caf::make_error(caf::sec::request_timeout))
             == "caf.request_timeout");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(resp_decoder_more)

BOOST_AUTO_TEST_CASE(large_reply_in_many_chunks) {
  // 20,000 bulk strings in one array, fed in 4 KiB pieces.
  std::string input = "*20000\r\n";
  for (int i = 0; i < 20000; ++i) {
    auto v = "value-" + std::to_string(i);
    input += "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
  }
  input += ":7\r\n";
  resp::decoder dec;
  std::vector<resp::value> got;
  resp::value v;
  for (size_t off = 0; off < input.size(); off += 4096) {
    auto n = std::min<size_t>(4096, input.size() - off);
    BOOST_REQUIRE(!dec.feed(input.data() + off, n));
    for (;;) {
      auto r = dec.next(v);
      BOOST_REQUIRE(r);
      if (!*r)
        break;
      got.push_back(v);
    }
  }
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_REQUIRE_EQUAL(got[0].elements.size(), 20000u);
  BOOST_TEST(got[0].elements[19999].str == "value-19999");
  BOOST_TEST(got[1].integer == 7);
}

BOOST_AUTO_TEST_CASE(hostile_input_is_rejected_not_crashed) {
  for (std::string bad : {"$-5\r\n", "*-2\r\n", ":12a\r\n", "$3\r\nabcX\r\n",
                          "+OK\rX", "*1\r\n?\r\n", "$99999999999999999999\r\n"}) {
    resp::decoder dec;
    BOOST_REQUIRE(!dec.feed(bad.data(), bad.size()));
    resp::value v;
    auto r = dec.next(v);
    BOOST_TEST(!r, "accepted: " << bad);
  }
  // A huge announced array with few bytes does not reserve gigabytes.
  resp::decoder dec;
  std::string big = "*2000000000\r\n:1\r\n";
  BOOST_REQUIRE(!dec.feed(big.data(), big.size()));
  resp::value v;
  auto r = dec.next(v);
  BOOST_REQUIRE(r);
  BOOST_TEST(!*r); // incomplete, waiting for more
  // Deeply nested arrays are refused.
  std::string deep(100, '*');
  std::string nested;
  for (int i = 0; i < 100; ++i)
    nested += "*1\r\n";
  nested += ":1\r\n";
  resp::decoder d2;
  BOOST_REQUIRE(!d2.feed(nested.data(), nested.size()));
  BOOST_TEST(!d2.next(v));
}

BOOST_AUTO_TEST_SUITE_END()
